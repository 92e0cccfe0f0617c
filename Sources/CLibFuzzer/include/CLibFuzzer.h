#ifndef C_LIB_FUZZER_H
#define C_LIB_FUZZER_H

#include <stddef.h>
#include <stdint.h>

/// libFuzzer's entry point for a program that has its own main
/// (compiler-rt's FuzzerInterface.h, LLVM 12 and later). It parses the
/// libFuzzer flags in argv and runs the callback on each input; it is only
/// linked into a build with -sanitize=fuzzer (notify-fuzz built with
/// -DFUZZING), so nothing else may call it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

/// The fuzz target's entry point, defined by NotifyFuzz (@_cdecl in
/// FuzzEntry.swift) and declared here so that main.swift hands libFuzzer the
/// C function itself.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
