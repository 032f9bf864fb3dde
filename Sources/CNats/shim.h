#ifndef MEND_CNATS_SHIM_H
#define MEND_CNATS_SHIM_H
#include <nats/nats.h>
#endif
