# Fails unless the code block that follows the line "<!-- readme_example.c -->" in README.md is
# exactly tests/readme_example.c, which the suite compiles and runs; so the README's example is
# code that builds. The block opens with a ```c fence on the line after the marker and ends at
# the next line that starts with ```.
#
#     cmake -DREADME=README.md -DEXAMPLE=tests/readme_example.c -P check_readme_example.cmake

foreach(var README EXAMPLE)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "pass -D${var}=<path>")
    endif()
    if(NOT EXISTS "${${var}}")
        message(FATAL_ERROR "${${var}} does not exist")
    endif()
endforeach()

file(READ "${README}" readme)
file(READ "${EXAMPLE}" example)

set(marker "<!-- readme_example.c -->\n")
set(fence "```c\n")
string(FIND "${readme}" "${marker}${fence}" at)
if(at EQUAL -1)
    message(FATAL_ERROR "${README}: no line \"<!-- readme_example.c -->\" followed by a line "
                        "\"```c\"; the example block is missing or its marker was changed")
endif()

string(LENGTH "${marker}${fence}" opening)
math(EXPR start "${at} + ${opening}")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "\n```" end)
if(end EQUAL -1)
    message(FATAL_ERROR "${README}: the example block after the marker is never closed")
endif()
math(EXPR end "${end} + 1")
string(SUBSTRING "${rest}" 0 ${end} block)

if(NOT block STREQUAL example)
    set(extracted "${CMAKE_CURRENT_BINARY_DIR}/readme_example_from_readme.c")
    file(WRITE "${extracted}" "${block}")
    execute_process(COMMAND diff -u "${EXAMPLE}" "${extracted}")
    message(FATAL_ERROR "The example in ${README} differs from ${EXAMPLE} (diff above, README "
                        "side in ${extracted}); change both together")
endif()
message(STATUS "The README's example is ${EXAMPLE}.")
