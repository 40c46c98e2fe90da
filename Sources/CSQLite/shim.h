#ifndef JIGSYNC_CSQLITE_SHIM_H
#define JIGSYNC_CSQLITE_SHIM_H
#include <sqlite3.h>

/// SQLITE_TRANSIENT is a macro casting -1 to a function pointer, which Swift cannot import.
static inline sqlite3_destructor_type jigsync_sqlite_transient(void) { return SQLITE_TRANSIENT; }

/// Turns off SQLite's memory statistics (sqlite3_config is variadic, which Swift cannot call).
/// With them on, every allocation SQLite makes takes a process-wide mutex to count it; jigsync
/// never reads the counts. Only effective before SQLite initializes (the first open).
static inline int jigsync_sqlite_disable_memstatus(void) { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); }
#endif
