# cmake -DBUILD_DIR=<lnfold build> -DPREFIX=<dir> -P install_fresh.cmake
# Installs lnfold into an emptied PREFIX, so that the consumer tests never find files that an
# earlier install left behind and this build no longer installs.
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX} RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cmake --install ${BUILD_DIR} --prefix ${PREFIX} failed (${status})")
endif()
