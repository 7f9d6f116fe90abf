#include <string.h>
#include <time.h>

#include "transport.h"

const struct vtb_transport_ops *const vtb_transports[] = {
	&vtb_transport_shm,
	&vtb_transport_swiotlb,
	&vtb_transport_grant,
	&vtb_transport_viommu,
	&vtb_transport_fatvq,
	&vtb_transport_argo,
	NULL,
};

const struct vtb_transport_ops *vtb_transport_find(const char *name)
{
	for (const struct vtb_transport_ops *const *t = vtb_transports; *t; t++)
		if (!strcmp((*t)->name, name))
			return *t;
	return NULL;
}

const char *const vtb_cap_names[] = {
	"split", "packed", "indirect", "notify_event", "notify_poll", "region", "be_ram", "max_buffer",
	"max_request", "reference", NULL,
};

const struct vtb_xport_opt *vtb_transport_opt(const struct vtb_transport_ops *t, const char *name,
					      const char *variant)
{
	for (const struct vtb_xport_opt *o = t->opts; o && o->name; o++) {
		if (strcmp(o->name, name))
			continue;
		if (!variant || !o->variants)
			return o;
		for (const char *const *v = o->variants; *v; v++)
			if (!strcmp(*v, variant))
				return o;
	}
	return NULL;
}

const struct vtb_xport_opt *vtb_xport_opt_find(const char *name)
{
	for (const struct vtb_transport_ops *const *t = vtb_transports; *t; t++) {
		const struct vtb_xport_opt *o = vtb_transport_opt(*t, name, NULL);
		if (o)
			return o;
	}
	return NULL;
}

int vtb_transport_variant(const struct vtb_transport_ops *t, const char *variant)
{
	if (!variant || !*variant)
		return 0;
	for (int i = 0; t->variants[i]; i++)
		if (!strcmp(t->variants[i], variant))
			return i;
	return -1;
}

const char *vtb_transport_unsupported(const struct vtb_transport_ops *t, const struct vtb_platform_ops *p)
{
	if ((t->needs & VTB_NEEDS_GRANT) && !p->grant)
		return "needs a grant-table service, which the platform does not provide";
	if ((t->needs & VTB_NEEDS_ARGO) && !p->argo)
		return "needs an Argo service, which the platform does not provide";
	return NULL;
}

uint64_t vtb_now_ns_fe(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int vtb_fe_alloc(struct vtb_xenv *env, uint64_t size, uint64_t align, uint64_t *gpa, void **va)
{
	uint64_t off = (env->ram_used + align - 1) & ~(align - 1);
	uint64_t end = env->shared_size ? env->shared_gpa : env->fe->ram_size;
	if (off > end || size > end - off)
		return -12; /* -ENOMEM */
	env->ram_used = off + size;
	*gpa = off;
	*va = env->ram + off;
	return 0;
}
