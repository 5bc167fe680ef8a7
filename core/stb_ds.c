/* The one translation unit that holds stb_ds's implementation for the library. */
#define STB_DS_IMPLEMENTATION
#include <stb/stb_ds.h>
