#!/usr/bin/python3
"""Independent values for tests/test_update_rules.c: one training step of a tiny pre-bias
network (3 -> 2 -> 1, squash between) under each of the four update rules, written in numpy
from the published update rules, with no tapegrad code.

    /usr/bin/python3 tests/reference/update_rules_reference.py

prints the C initializers pasted into the test.
"""
import textwrap

import numpy as np

X = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 1.5], [2.0, 0.5, -0.5], [-1.0, 1.0, 2.0]])
T = np.array([1.5, -0.5, 2.0, 0.25])
MEAN_T, STD_T, LR, H = 0.5, 2.0, 0.1, 0.1
INIT = {
    "0.W": np.array([[0.5, -1.0], [0.25, 0.75], [-0.5, 1.0]]),
    "0.A": np.array([0.25, -0.25, 1.0]),
    "0.B": np.array([0.25, -0.5]),
    "2.W": np.array([[0.75], [-0.5]]),
    "2.A": np.array([0.125, -0.375]),
    "2.B": np.array([0.1]),
}


def step(rule):
    p = {k: v.copy() for k, v in INIT.items()}
    layers = ["0", "2"]
    xs, h = [], X
    for i, name in enumerate(layers):
        if i > 0:
            h = 1.5 * np.tanh(h / 1.5)
        xs.append(h)
        h = (h - p[name + ".A"]) @ p[name + ".W"] + p[name + ".B"]
    y = h[:, 0] * STD_T + MEAN_T
    D = ((y - T) / STD_T)[:, None]

    grads = {}
    for i in reversed(range(len(layers))):
        name, x = layers[i], xs[i]
        W, A = p[name + ".W"], p[name + ".A"]
        m, n = W.shape
        dW = (x - A).T @ D
        if rule == "paper":
            dA = -(x - A).sum(axis=0)
            dB = D.sum(axis=0) + dA @ W
        else:
            dA = -(D @ W.T).sum(axis=0)
            dB = D.sum(axis=0)
        if rule == "no-prebias":
            dA = np.zeros_like(dA)
        scale = np.sqrt(m / n) if rule in ("paper", "autodiff-scaled") else 1.0
        D_below = scale * (D @ W.T)
        grads[name] = (dW, dA, dB)
        if i > 0:
            # xs[i] = 1.5 tanh(z / 1.5), whose derivative in z is 1 - (xs[i] / 1.5)^2.
            D = D_below * (1 - (xs[i] / 1.5) ** 2)
    for name in layers:
        m = p[name + ".W"].shape[0]
        for k, g in zip("WAB", grads[name]):
            p[name + "." + k] = p[name + "." + k] - LR / np.sqrt(m) * g
    a = (1 / H) / ((1 / H) + 1)
    avg = {k: a * p[k] + (1 - a) * INIT[k] for k in p}
    return p, avg


def c_rows(values, indent):
    """Values as C initializer lines, at most 100 columns."""
    items = [repr(float(v)) + "," for v in np.ravel(values)]
    return textwrap.wrap(" ".join(items), 100 - indent, initial_indent=" " * indent,
                         subsequent_indent=" " * indent)


for rule in ["paper", "autodiff", "autodiff-scaled", "no-prebias"]:
    print(f"    /* {rule} */ {{")
    for label, values in zip(["trained", "averaged"], step(rule)):
        print(f"        /* {label} */ {{")
        for k in INIT:
            print(f"            /* {k} */ {{")
            print("\n".join(c_rows(values[k], 16)))
            print("            },")
        print("        },")
    print("    },")
