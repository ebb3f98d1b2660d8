#include <cblas.h>

/* OpenBLAS's own core name for the kernels it loaded (DYNAMIC_ARCH builds). */
char *openblas_get_corename(void);
