# cmake -DBINARIES="a|b" -P check_test_names.cmake
# Fails when a Catch2 test name cannot be run by its CTest test: catch_discover_tests splits a name
# at ';' (CMake's list separator) into tests that match nothing and pass without running, and Catch
# reads a name that starts with '-' as an option.
set(bad "")
string(REPLACE "|" ";" binaries "${BINARIES}")
foreach(binary IN LISTS binaries)
  # --list-test-names-only exits with the number of tests listed: a non-number is a failure to run.
  execute_process(COMMAND ${binary} --list-test-names-only OUTPUT_VARIABLE names RESULT_VARIABLE rc)
  if(NOT rc MATCHES "^[0-9]+$" OR names STREQUAL "")
    message(FATAL_ERROR "cannot list the tests of ${binary}: ${rc}")
  endif()
  string(REPLACE ";" "<semicolon>" names "${names}")
  string(REPLACE "\n" ";" names "${names}")
  foreach(name IN LISTS names)
    if(name MATCHES "<semicolon>" OR name MATCHES "^-")
      string(REPLACE "<semicolon>" ";" name "${name}")
      string(APPEND bad "\n  ${binary}: ${name}")
    endif()
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "test names CTest cannot run (a ';' or a leading '-'):${bad}")
endif()
