#ifndef MEND_CPGQUERY_SHIM_H
#define MEND_CPGQUERY_SHIM_H
#include <pg_query.h>
#endif
