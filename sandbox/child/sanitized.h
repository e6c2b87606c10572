// Whether this build runs under AddressSanitizer (ci/sanitize): the child's code then makes calls
// of ASan's runtime too, and the job's stack is one ASan does not know.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define GAOL_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GAOL_SANITIZED 1
#endif
#endif
#ifndef GAOL_SANITIZED
#define GAOL_SANITIZED 0
#endif
