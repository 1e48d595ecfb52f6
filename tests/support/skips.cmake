# skips.cmake — the tests that may skip, and how ctest knows: each exits 77 when this machine
# lacks what it needs (root, netem, IPv6 loopback, clang) and is marked SKIP_RETURN_CODE 77, so
# ctest reports it as skipped, never as passed. Included from tests/CMakeLists.txt after every
# test is registered. The netns tests set the property themselves (tests/netns/CMakeLists.txt).

# IPv6 loopback: its own executable, so that its absence is one skipped test, not a silent pass.
set_tests_properties(test_transport_ipv6 PROPERTIES SKIP_RETURN_CODE 77)

# clang: without it compile_fail/CMakeLists.txt registers no clang twins (a status line only).
find_program(BASH_PROGRAM bash REQUIRED)
add_test(NAME capability.clang
         COMMAND ${BASH_PROGRAM} ${CMAKE_CURRENT_SOURCE_DIR}/support/capability.sh clang)
set_tests_properties(capability.clang PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 60 LABELS capability)
