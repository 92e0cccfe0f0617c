#ifndef C_PROTOBUF_C_SHIM_H
#define C_PROTOBUF_C_SHIM_H
// The protobuf-c runtime (Debian's libprotobuf-c-dev).
#include <protobuf-c/protobuf-c.h>
#endif
