// The declaration in include/CLibFuzzer.h is the whole module; SwiftPM needs
// one source file for a C target.
#include "CLibFuzzer.h"
