/* The FE and BE main loops of a cell: what runs inside each domain,
 * whichever runner started it.  Each reaches the other domain only
 * through its platform and the control page. */
#ifndef VTB_DOMAIN_H
#define VTB_DOMAIN_H

#include "ctl.h"

struct vtb_domargs {
	const struct vtb_cellp *cp;
	const struct vtb_platform_ops *plat;
	struct vtb_ctl *ctl;
	struct vtb_xenv *env;
	void *hv;		/* the platform's page for its hypervisor paths */
};

/* Each returns the domain's exit status: 0, or 1 with the reason in
 * the control page's fe_error / be_error. */
int vtb_domain_fe(const struct vtb_domargs *a);
int vtb_domain_be(const struct vtb_domargs *a);

#endif
