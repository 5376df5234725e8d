# lnfold_read_version(<config.hpp> <out-var>): sets <out-var> to "MAJOR.MINOR.PATCH" from the
# LNFOLD_VERSION_MAJOR / _MINOR / _PATCH macros of lnfold's config header, the one place the
# version is defined; a header without all three is a configure error, not a silent 0.0.0.
function(lnfold_read_version header out_var)
  file(STRINGS ${header} lines REGEX "^#define LNFOLD_VERSION_(MAJOR|MINOR|PATCH) +[0-9]+ *$")
  set(version "")
  foreach(part MAJOR MINOR PATCH)
    if(NOT lines MATCHES "#define LNFOLD_VERSION_${part} +([0-9]+)")
      message(FATAL_ERROR "lnfold: ${header} does not define LNFOLD_VERSION_${part} as a number")
    endif()
    list(APPEND version ${CMAKE_MATCH_1})
  endforeach()
  list(JOIN version "." version)
  set(${out_var} ${version} PARENT_SCOPE)
endfunction()
