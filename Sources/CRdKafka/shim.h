#ifndef MEND_CRDKAFKA_SHIM_H
#define MEND_CRDKAFKA_SHIM_H
#include <librdkafka/rdkafka.h>
#endif
