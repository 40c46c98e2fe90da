#ifndef JIGSYNC_CCURL_SHIM_H
#define JIGSYNC_CCURL_SHIM_H
/*
 * curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call.
 * Each wrapper below fixes the type of the third argument so Swift sees an ordinary function.
 */
#include <curl/curl.h>

static inline CURLcode jigsync_curl_setopt_long(CURL *h, CURLoption o, long v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jigsync_curl_setopt_off(CURL *h, CURLoption o, curl_off_t v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jigsync_curl_setopt_string(CURL *h, CURLoption o, const char *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jigsync_curl_setopt_pointer(CURL *h, CURLoption o, void *v) { return curl_easy_setopt(h, o, v); }
static inline CURLcode jigsync_curl_setopt_slist(CURL *h, CURLoption o, struct curl_slist *v) { return curl_easy_setopt(h, o, v); }

typedef size_t (*jigsync_curl_data_cb)(char *buffer, size_t size, size_t nitems, void *userdata);
typedef int (*jigsync_curl_seek_cb)(void *userdata, curl_off_t offset, int origin);
typedef int (*jigsync_curl_xferinfo_cb)(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode jigsync_curl_setopt_data_cb(CURL *h, CURLoption o, jigsync_curl_data_cb cb) { return curl_easy_setopt(h, o, cb); }
static inline CURLcode jigsync_curl_setopt_seek_cb(CURL *h, jigsync_curl_seek_cb cb) { return curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, cb); }
static inline CURLcode jigsync_curl_setopt_xferinfo_cb(CURL *h, jigsync_curl_xferinfo_cb cb) { return curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb); }

static inline CURLcode jigsync_curl_getinfo_long(CURL *h, CURLINFO i, long *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode jigsync_curl_getinfo_off(CURL *h, CURLINFO i, curl_off_t *v) { return curl_easy_getinfo(h, i, v); }
static inline CURLcode jigsync_curl_getinfo_pointer(CURL *h, CURLINFO i, void **v) { return curl_easy_getinfo(h, i, v); }

static inline CURLMcode jigsync_curl_multi_setopt_long(CURLM *m, CURLMoption o, long v) { return curl_multi_setopt(m, o, v); }

/* Resumes a transfer paused by its read callback (CURLPAUSE_CONT is a macro expression). */
static inline CURLcode jigsync_curl_unpause(CURL *h) { return curl_easy_pause(h, CURLPAUSE_CONT); }

/* Macros Swift cannot import as constants. */
static inline size_t jigsync_curl_readfunc_abort(void) { return CURL_READFUNC_ABORT; }
static inline size_t jigsync_curl_readfunc_pause(void) { return CURL_READFUNC_PAUSE; }
static inline int jigsync_curl_seekfunc_ok(void) { return CURL_SEEKFUNC_OK; }
static inline int jigsync_curl_seekfunc_fail(void) { return CURL_SEEKFUNC_FAIL; }
static inline int jigsync_curl_seekfunc_cantseek(void) { return CURL_SEEKFUNC_CANTSEEK; }
#endif
