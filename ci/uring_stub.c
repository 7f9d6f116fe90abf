/* liburing's out-of-line entry points for the cross-built unit tests only:
 * the arm64 liburing cannot be installed beside the host's, and no unit
 * test serves a backing file, so blk's io_uring path just reports ENOSYS
 * (blk_wl.c's own error path) if it were ever reached. */
#include <errno.h>
#include <liburing.h>

int io_uring_queue_init(unsigned entries, struct io_uring *ring, unsigned flags)
{
	(void)entries;
	(void)ring;
	(void)flags;
	return -ENOSYS;
}

void io_uring_queue_exit(struct io_uring *ring)
{
	(void)ring;
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	(void)ring;
	(void)wait_nr;
	return -ENOSYS;
}

int __io_uring_get_cqe(struct io_uring *ring, struct io_uring_cqe **cqe_ptr, unsigned submit,
		       unsigned wait_nr, sigset_t *sigmask)
{
	(void)ring;
	(void)submit;
	(void)wait_nr;
	(void)sigmask;
	*cqe_ptr = NULL;
	return -ENOSYS;
}
