"""Reference outputs for tests/test_rng.c, written independently of core/rng.c.

xoshiro256** (Blackman and Vigna) seeded with four successive outputs of splitmix64, as the
generator's authors recommend. Run with python3; the C tests pin the values this prints.
"""

MASK = (1 << 64) - 1


def splitmix64(state):
    """Returns (next state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def seed(value):
    s = []
    for _ in range(4):
        value, out = splitmix64(value)
        s.append(out)
    return s


def next_output(s):
    result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
    t = (s[1] << 17) & MASK
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


def main():
    for value in (0, 42):
        s = seed(value)
        outputs = ", ".join("0x%016xULL" % next_output(s) for _ in range(3))
        print("seed %d: %s" % (value, outputs))


if __name__ == "__main__":
    main()
