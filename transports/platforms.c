/* Every platform vtbench can run cells on, in the order `vtbench list`
 * shows them. */
#include <string.h>

#include "platform.h"
#include "proc/proc.h"

const struct vtb_platform_ops *const vtb_platforms[] = {
	&vtb_platform_proc,
	NULL,
};

const struct vtb_platform_ops *vtb_platform_find(const char *name)
{
	for (unsigned i = 0; vtb_platforms[i]; i++)
		if (!strcmp(vtb_platforms[i]->name, name))
			return vtb_platforms[i];
	return NULL;
}
