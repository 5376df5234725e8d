# cmake -DBUILD_DIR=<consumer build> -DPREFIX=<empty dir> -P installs_nothing.cmake
# Installs the consumer's build into PREFIX and fails if any file lands there: the consumer has no
# install rules of its own, so every file would be one of lnfold's (LNFOLD_INSTALL must be OFF).
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} failed (${status})")
endif()
file(GLOB_RECURSE installed LIST_DIRECTORIES false ${PREFIX}/*)
if(installed)
  message(FATAL_ERROR "a subproject lnfold installed files: ${installed}")
endif()
message(STATUS "nothing installed")
