// The walkthrough example is also a test fixture: one source, two builds.
#include "../../examples/hello.bpf.c"
