/* Every wire struct and constant, field by field, against the Linux uapi. */
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <linux/virtio_scmi.h>
#include <linux/vhost_types.h>
#include <stddef.h>
#include <stdint.h>
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <xen/xen.h>
#include <xen/grant_table.h>
#include <xen/argo.h>

#include "../../ci/vtb_test.h"
#include "../../workloads/blk/vtb_blk.h"
#include "../../workloads/net/vtb_net.h"
#include "../../workloads/scmi/vtb_scmi.h"
#include "../core/vtb_argo.h"
#include "../core/vtb_grant.h"
#include "../core/vtb_viommu.h"
#include "../core/vtb_virtq.h"
#include "../vhost_user/vhu_proto.h"

#define SAME_FIELD(ours, theirs, fo, ft) do { \
	CHECK_EQ(offsetof(ours, fo), offsetof(theirs, ft)); \
	CHECK_EQ(sizeof(((ours *)0)->fo), sizeof(((theirs *)0)->ft)); \
} while (0)

int main(void)
{
	/* virtio_ring.h */
	CHECK_EQ(sizeof(struct vtb_vring_desc), sizeof(struct vring_desc));
	SAME_FIELD(struct vtb_vring_desc, struct vring_desc, addr, addr);
	SAME_FIELD(struct vtb_vring_desc, struct vring_desc, len, len);
	SAME_FIELD(struct vtb_vring_desc, struct vring_desc, flags, flags);
	SAME_FIELD(struct vtb_vring_desc, struct vring_desc, next, next);
	CHECK_EQ(sizeof(struct vtb_vring_avail), sizeof(struct vring_avail));
	SAME_FIELD(struct vtb_vring_avail, struct vring_avail, flags, flags);
	SAME_FIELD(struct vtb_vring_avail, struct vring_avail, idx, idx);
	CHECK_EQ(offsetof(struct vtb_vring_avail, ring), offsetof(struct vring_avail, ring));
	CHECK_EQ(sizeof(struct vtb_vring_used_elem), sizeof(struct vring_used_elem));
	SAME_FIELD(struct vtb_vring_used_elem, struct vring_used_elem, id, id);
	SAME_FIELD(struct vtb_vring_used_elem, struct vring_used_elem, len, len);
	CHECK_EQ(offsetof(struct vtb_vring_used, ring), offsetof(struct vring_used, ring));
	SAME_FIELD(struct vtb_vring_used, struct vring_used, idx, idx);
	CHECK_EQ(VTB_DESC_F_NEXT, VRING_DESC_F_NEXT);
	CHECK_EQ(VTB_DESC_F_WRITE, VRING_DESC_F_WRITE);
	CHECK_EQ(VTB_DESC_F_INDIRECT, VRING_DESC_F_INDIRECT);
	CHECK_EQ(VTB_AVAIL_F_NO_INTERRUPT, VRING_AVAIL_F_NO_INTERRUPT);
	CHECK_EQ(VTB_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
	CHECK_EQ(VTB_F_INDIRECT_DESC, VIRTIO_RING_F_INDIRECT_DESC);
	CHECK_EQ(VTB_F_EVENT_IDX, VIRTIO_RING_F_EVENT_IDX);
	/* used_event / avail_event positions as the uapi macros compute them */
	{
		static _Alignas(4096) unsigned char ring[1 << 16];
		struct vring vr;
		unsigned num = 256;
		vring_init(&vr, num, ring, 4);
		CHECK_EQ((unsigned char *)vr.avail - ring, vtb_vring_avail_off(256));
		CHECK_EQ((unsigned char *)vr.used - ring, vtb_vring_used_off(256));
		CHECK_EQ((unsigned char *)&vring_used_event(&vr) - ring, vtb_vring_avail_off(256) + 4 + 2 * 256);
		CHECK_EQ((unsigned char *)&vring_avail_event(&vr) - ring, vtb_vring_used_off(256) + 4 + 8 * 256);
	}

	/* packed ring (virtio_ring.h) */
	CHECK_EQ(sizeof(struct vtb_pvq_desc), sizeof(struct vring_packed_desc));
	SAME_FIELD(struct vtb_pvq_desc, struct vring_packed_desc, addr, addr);
	SAME_FIELD(struct vtb_pvq_desc, struct vring_packed_desc, len, len);
	SAME_FIELD(struct vtb_pvq_desc, struct vring_packed_desc, id, id);
	SAME_FIELD(struct vtb_pvq_desc, struct vring_packed_desc, flags, flags);
	CHECK_EQ(sizeof(struct vtb_pvq_event), sizeof(struct vring_packed_desc_event));
	SAME_FIELD(struct vtb_pvq_event, struct vring_packed_desc_event, off_wrap, off_wrap);
	SAME_FIELD(struct vtb_pvq_event, struct vring_packed_desc_event, flags, flags);
	CHECK_EQ(VTB_PDESC_F_AVAIL, 1u << VRING_PACKED_DESC_F_AVAIL);
	CHECK_EQ(VTB_PDESC_F_USED, 1u << VRING_PACKED_DESC_F_USED);
	CHECK_EQ(VTB_RING_EVENT_FLAGS_ENABLE, VRING_PACKED_EVENT_FLAG_ENABLE);
	CHECK_EQ(VTB_RING_EVENT_FLAGS_DISABLE, VRING_PACKED_EVENT_FLAG_DISABLE);
	CHECK_EQ(VTB_RING_EVENT_FLAGS_DESC, VRING_PACKED_EVENT_FLAG_DESC);
	CHECK_EQ(15, VRING_PACKED_EVENT_F_WRAP_CTR);

	/* virtio_config.h, virtio_ids.h */
	CHECK_EQ(VTB_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(VTB_S_DRIVER, VIRTIO_CONFIG_S_DRIVER);
	CHECK_EQ(VTB_S_DRIVER_OK, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(VTB_S_FEATURES_OK, VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(VTB_S_NEEDS_RESET, VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(VTB_S_FAILED, VIRTIO_CONFIG_S_FAILED);
	CHECK_EQ(VTB_F_VERSION_1, VIRTIO_F_VERSION_1);
	CHECK_EQ(VTB_F_ACCESS_PLATFORM, VIRTIO_F_ACCESS_PLATFORM);
	CHECK_EQ(VTB_F_RING_PACKED, VIRTIO_F_RING_PACKED);
	CHECK_EQ(VTB_F_IN_ORDER, VIRTIO_F_IN_ORDER);
	CHECK_EQ(VTB_ID_NET, VIRTIO_ID_NET);
	CHECK_EQ(VTB_ID_BLOCK, VIRTIO_ID_BLOCK);
	CHECK_EQ(VTB_ID_SCMI, VIRTIO_ID_SCMI);

	/* virtio_blk.h */
	CHECK_EQ(sizeof(struct vtb_blk_outhdr), sizeof(struct virtio_blk_outhdr));
	SAME_FIELD(struct vtb_blk_outhdr, struct virtio_blk_outhdr, type, type);
	SAME_FIELD(struct vtb_blk_outhdr, struct virtio_blk_outhdr, ioprio, ioprio);
	SAME_FIELD(struct vtb_blk_outhdr, struct virtio_blk_outhdr, sector, sector);
	CHECK_EQ(sizeof(struct vtb_blk_dwz), sizeof(struct virtio_blk_discard_write_zeroes));
	SAME_FIELD(struct vtb_blk_dwz, struct virtio_blk_discard_write_zeroes, sector, sector);
	SAME_FIELD(struct vtb_blk_dwz, struct virtio_blk_discard_write_zeroes, num_sectors, num_sectors);
	SAME_FIELD(struct vtb_blk_dwz, struct virtio_blk_discard_write_zeroes, flags, flags);
#define BLKCFG(f) SAME_FIELD(struct vtb_blk_config, struct virtio_blk_config, f, f)
	BLKCFG(capacity); BLKCFG(size_max); BLKCFG(seg_max); BLKCFG(geometry); BLKCFG(blk_size);
	BLKCFG(physical_block_exp); BLKCFG(alignment_offset); BLKCFG(min_io_size); BLKCFG(opt_io_size);
	BLKCFG(wce); BLKCFG(num_queues); BLKCFG(max_discard_sectors); BLKCFG(max_discard_seg);
	BLKCFG(discard_sector_alignment); BLKCFG(max_write_zeroes_sectors); BLKCFG(max_write_zeroes_seg);
	BLKCFG(write_zeroes_may_unmap);
	CHECK(sizeof(struct vtb_blk_config) <= sizeof(struct virtio_blk_config));
	CHECK_EQ(VTB_BLK_T_IN, VIRTIO_BLK_T_IN);
	CHECK_EQ(VTB_BLK_T_OUT, VIRTIO_BLK_T_OUT);
	CHECK_EQ(VTB_BLK_T_FLUSH, VIRTIO_BLK_T_FLUSH);
	CHECK_EQ(VTB_BLK_T_GET_ID, VIRTIO_BLK_T_GET_ID);
	CHECK_EQ(VTB_BLK_T_DISCARD, VIRTIO_BLK_T_DISCARD);
	CHECK_EQ(VTB_BLK_T_WRITE_ZEROES, VIRTIO_BLK_T_WRITE_ZEROES);
	CHECK_EQ(VTB_BLK_S_OK, VIRTIO_BLK_S_OK);
	CHECK_EQ(VTB_BLK_S_IOERR, VIRTIO_BLK_S_IOERR);
	CHECK_EQ(VTB_BLK_S_UNSUPP, VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(VTB_BLK_ID_BYTES, VIRTIO_BLK_ID_BYTES);
	CHECK_EQ(VTB_BLK_F_SEG_MAX, VIRTIO_BLK_F_SEG_MAX);
	CHECK_EQ(VTB_BLK_F_BLK_SIZE, VIRTIO_BLK_F_BLK_SIZE);
	CHECK_EQ(VTB_BLK_F_FLUSH, VIRTIO_BLK_F_FLUSH);
	CHECK_EQ(VTB_BLK_F_DISCARD, VIRTIO_BLK_F_DISCARD);
	CHECK_EQ(VTB_BLK_F_WRITE_ZEROES, VIRTIO_BLK_F_WRITE_ZEROES);
	CHECK_EQ(VTB_BLK_WZ_FLAG_UNMAP, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);

	/* virtio_net.h */
	CHECK_EQ(sizeof(struct vtb_net_hdr_v1), sizeof(struct virtio_net_hdr_v1));
	CHECK_EQ(sizeof(struct vtb_net_hdr_v1), 12);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, flags, flags);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, gso_type, gso_type);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, hdr_len, hdr_len);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, gso_size, gso_size);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, csum_start, csum_start);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, csum_offset, csum_offset);
	SAME_FIELD(struct vtb_net_hdr_v1, struct virtio_net_hdr_v1, num_buffers, num_buffers);
	SAME_FIELD(struct vtb_net_config, struct virtio_net_config, mac, mac);
	SAME_FIELD(struct vtb_net_config, struct virtio_net_config, status, status);
	SAME_FIELD(struct vtb_net_config, struct virtio_net_config, max_virtqueue_pairs, max_virtqueue_pairs);
	SAME_FIELD(struct vtb_net_config, struct virtio_net_config, mtu, mtu);
	CHECK_EQ(VTB_NET_F_MTU, VIRTIO_NET_F_MTU);
	CHECK_EQ(VTB_NET_F_MAC, VIRTIO_NET_F_MAC);
	CHECK_EQ(VTB_NET_F_STATUS, VIRTIO_NET_F_STATUS);

	/* virtio_scmi.h */
	CHECK_EQ(VTB_SCMI_F_P2A_CHANNELS, VIRTIO_SCMI_F_P2A_CHANNELS);
	CHECK_EQ(VTB_SCMI_Q_CMD, VIRTIO_SCMI_VQ_TX);
	CHECK_EQ(VTB_SCMI_Q_EVENT, VIRTIO_SCMI_VQ_RX);
	/* virtio_iommu.h */
	CHECK_EQ(sizeof(struct vtb_viommu_attach), sizeof(struct virtio_iommu_req_attach));
	SAME_FIELD(struct vtb_viommu_attach, struct virtio_iommu_req_attach, domain, domain);
	SAME_FIELD(struct vtb_viommu_attach, struct virtio_iommu_req_attach, endpoint, endpoint);
	SAME_FIELD(struct vtb_viommu_attach, struct virtio_iommu_req_attach, flags, flags);
	SAME_FIELD(struct vtb_viommu_attach, struct virtio_iommu_req_attach, tail, tail);
	CHECK_EQ(sizeof(struct vtb_viommu_map), sizeof(struct virtio_iommu_req_map));
	SAME_FIELD(struct vtb_viommu_map, struct virtio_iommu_req_map, domain, domain);
	SAME_FIELD(struct vtb_viommu_map, struct virtio_iommu_req_map, virt_start, virt_start);
	SAME_FIELD(struct vtb_viommu_map, struct virtio_iommu_req_map, virt_end, virt_end);
	SAME_FIELD(struct vtb_viommu_map, struct virtio_iommu_req_map, phys_start, phys_start);
	SAME_FIELD(struct vtb_viommu_map, struct virtio_iommu_req_map, flags, flags);
	SAME_FIELD(struct vtb_viommu_map, struct virtio_iommu_req_map, tail, tail);
	CHECK_EQ(sizeof(struct vtb_viommu_unmap), sizeof(struct virtio_iommu_req_unmap));
	SAME_FIELD(struct vtb_viommu_unmap, struct virtio_iommu_req_unmap, virt_start, virt_start);
	SAME_FIELD(struct vtb_viommu_unmap, struct virtio_iommu_req_unmap, virt_end, virt_end);
	SAME_FIELD(struct vtb_viommu_unmap, struct virtio_iommu_req_unmap, tail, tail);
	CHECK_EQ(sizeof(struct vtb_viommu_detach), sizeof(struct virtio_iommu_req_detach));
	SAME_FIELD(struct vtb_viommu_detach, struct virtio_iommu_req_detach, domain, domain);
	SAME_FIELD(struct vtb_viommu_detach, struct virtio_iommu_req_detach, endpoint, endpoint);
	SAME_FIELD(struct vtb_viommu_detach, struct virtio_iommu_req_detach, tail, tail);
	CHECK_EQ(sizeof(struct vtb_viommu_config), sizeof(struct virtio_iommu_config));
	SAME_FIELD(struct vtb_viommu_config, struct virtio_iommu_config, page_size_mask, page_size_mask);
	SAME_FIELD(struct vtb_viommu_config, struct virtio_iommu_config, input_range, input_range);
	SAME_FIELD(struct vtb_viommu_config, struct virtio_iommu_config, domain_range, domain_range);
	SAME_FIELD(struct vtb_viommu_config, struct virtio_iommu_config, probe_size, probe_size);
	SAME_FIELD(struct vtb_viommu_config, struct virtio_iommu_config, bypass, bypass);
	CHECK_EQ(VTB_VIOMMU_T_DETACH, VIRTIO_IOMMU_T_DETACH);
	CHECK_EQ(VTB_VIOMMU_T_PROBE, VIRTIO_IOMMU_T_PROBE);
	CHECK_EQ(VTB_VIOMMU_S_NOMEM, VIRTIO_IOMMU_S_NOMEM);
	CHECK_EQ(VTB_VIOMMU_MAP_F_MMIO, VIRTIO_IOMMU_MAP_F_MMIO);
	CHECK_EQ(VTB_VIOMMU_F_INPUT_RANGE, VIRTIO_IOMMU_F_INPUT_RANGE);
	CHECK_EQ(VTB_VIOMMU_F_DOMAIN_RANGE, VIRTIO_IOMMU_F_DOMAIN_RANGE);
	CHECK_EQ(VTB_VIOMMU_F_MAP_UNMAP, VIRTIO_IOMMU_F_MAP_UNMAP);
	CHECK_EQ(VTB_VIOMMU_F_BYPASS, VIRTIO_IOMMU_F_BYPASS);
	CHECK_EQ(VTB_VIOMMU_F_PROBE, VIRTIO_IOMMU_F_PROBE);
	CHECK_EQ(VTB_VIOMMU_F_MMIO, VIRTIO_IOMMU_F_MMIO);
	CHECK_EQ(VTB_VIOMMU_F_BYPASS_CONFIG, VIRTIO_IOMMU_F_BYPASS_CONFIG);
	CHECK_EQ(VTB_VIOMMU_T_ATTACH, VIRTIO_IOMMU_T_ATTACH);
	CHECK_EQ(VTB_VIOMMU_T_MAP, VIRTIO_IOMMU_T_MAP);
	CHECK_EQ(VTB_VIOMMU_T_UNMAP, VIRTIO_IOMMU_T_UNMAP);
	CHECK_EQ(VTB_VIOMMU_S_OK, VIRTIO_IOMMU_S_OK);
	CHECK_EQ(VTB_VIOMMU_S_UNSUPP, VIRTIO_IOMMU_S_UNSUPP);
	CHECK_EQ(VTB_VIOMMU_S_INVAL, VIRTIO_IOMMU_S_INVAL);
	CHECK_EQ(VTB_VIOMMU_S_RANGE, VIRTIO_IOMMU_S_RANGE);
	CHECK_EQ(VTB_VIOMMU_S_NOENT, VIRTIO_IOMMU_S_NOENT);
	CHECK_EQ(VTB_VIOMMU_S_DEVERR, VIRTIO_IOMMU_S_DEVERR);
	CHECK_EQ(VTB_VIOMMU_ATTACH_F_BYPASS, VIRTIO_IOMMU_ATTACH_F_BYPASS);
	CHECK_EQ(VTB_VIOMMU_MAP_F_READ, VIRTIO_IOMMU_MAP_F_READ);
	CHECK_EQ(VTB_VIOMMU_MAP_F_WRITE, VIRTIO_IOMMU_MAP_F_WRITE);

	/* xen/grant_table.h (Debian libxen-dev) */
	CHECK_EQ(sizeof(struct vtb_grant_entry_v1), sizeof(struct grant_entry_v1));
	SAME_FIELD(struct vtb_grant_entry_v1, struct grant_entry_v1, flags, flags);
	SAME_FIELD(struct vtb_grant_entry_v1, struct grant_entry_v1, domid, domid);
	SAME_FIELD(struct vtb_grant_entry_v1, struct grant_entry_v1, frame, frame);
	CHECK_EQ(VTB_GTF_permit_access, GTF_permit_access);
	CHECK_EQ(VTB_GTF_type_mask, GTF_type_mask);
	CHECK_EQ(VTB_GTF_readonly, GTF_readonly);
	CHECK_EQ(VTB_GTF_reading, GTF_reading);
	CHECK_EQ(VTB_GTF_writing, GTF_writing);
	CHECK_EQ(VTB_GTF_sub_page, GTF_sub_page);
	CHECK_EQ(VTB_GNTST_okay, GNTST_okay);
	CHECK_EQ(VTB_GNTST_general_error, GNTST_general_error);
	CHECK_EQ(VTB_GNTST_bad_domain, GNTST_bad_domain);
	CHECK_EQ(VTB_GNTST_bad_gntref, GNTST_bad_gntref);
	CHECK_EQ(VTB_GNTST_permission_denied, GNTST_permission_denied);
	CHECK_EQ(VTB_GNTST_bad_page, GNTST_bad_page);
	CHECK_EQ(VTB_GNTST_bad_copy_arg, GNTST_bad_copy_arg);
	CHECK_EQ(VTB_GNTTABOP_map_grant_ref, GNTTABOP_map_grant_ref);
	CHECK_EQ(VTB_GNTTABOP_unmap_grant_ref, GNTTABOP_unmap_grant_ref);
	CHECK_EQ(VTB_GNTTABOP_copy, GNTTABOP_copy);
	CHECK_EQ(VTB_GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_NR_RESERVED_ENTRIES);
	/* xen/argo.h */
	CHECK_EQ(sizeof(struct vtb_argo_addr), sizeof(xen_argo_addr_t));
	SAME_FIELD(struct vtb_argo_addr, xen_argo_addr_t, aport, aport);
	SAME_FIELD(struct vtb_argo_addr, xen_argo_addr_t, domain_id, domain_id);
	CHECK_EQ(sizeof(struct vtb_argo_ring), sizeof(xen_argo_ring_t));
	SAME_FIELD(struct vtb_argo_ring, xen_argo_ring_t, rx_ptr, rx_ptr);
	SAME_FIELD(struct vtb_argo_ring, xen_argo_ring_t, tx_ptr, tx_ptr);
	CHECK_EQ(offsetof(struct vtb_argo_ring, ring), offsetof(xen_argo_ring_t, ring));
	CHECK_EQ(sizeof(struct vtb_argo_msg_hdr), sizeof(struct xen_argo_ring_message_header));
	SAME_FIELD(struct vtb_argo_msg_hdr, struct xen_argo_ring_message_header, len, len);
	SAME_FIELD(struct vtb_argo_msg_hdr, struct xen_argo_ring_message_header, source, source);
	SAME_FIELD(struct vtb_argo_msg_hdr, struct xen_argo_ring_message_header, message_type, message_type);
	CHECK_EQ(VTB_ARGO_MAXIOV, XEN_ARGO_MAXIOV);
	CHECK_EQ(VTB_ARGO_MSG_SLOT_SIZE, XEN_ARGO_MSG_SLOT_SIZE);
	CHECK_EQ(VTB_ARGO_MAX_RING_SIZE, XEN_ARGO_MAX_RING_SIZE);
	CHECK_EQ(VTB_ARGO_OP_register_ring, XEN_ARGO_OP_register_ring);
	CHECK_EQ(VTB_ARGO_OP_sendv, XEN_ARGO_OP_sendv);
	CHECK_EQ(VTB_ARGO_OP_notify, XEN_ARGO_OP_notify);
	/* argo.c's MAX_ARGO_MESSAGE_SIZE, and ringbuf_payload_space: a header
	 * and one slot stay free. */
	CHECK_EQ(VTB_ARGO_MAX_MSG_SIZE, XEN_ARGO_MAX_RING_SIZE - sizeof(struct xen_argo_ring_message_header) -
					XEN_ARGO_MSG_SLOT_SIZE);
	CHECK_EQ(vtb_argo_payload_space(4096, 0, 0), 4096 - 32);
	CHECK_EQ(vtb_argo_payload_space(4096, 32, 16), 0);
	CHECK_EQ(vtb_argo_payload_space(4096, 16, 4000), 4096 - 3984 - 32);

	/* vhost-user's payloads that are the kernel vhost structs on the wire
	 * (vhost_types.h); the region's last field is vhost-user's mmap_offset
	 * where the kernel has flags_padding. */
	CHECK_EQ(sizeof(struct vtb_vhu_vring_state), sizeof(struct vhost_vring_state));
	SAME_FIELD(struct vtb_vhu_vring_state, struct vhost_vring_state, index, index);
	SAME_FIELD(struct vtb_vhu_vring_state, struct vhost_vring_state, num, num);
	CHECK_EQ(sizeof(struct vtb_vhu_vring_addr), sizeof(struct vhost_vring_addr));
	SAME_FIELD(struct vtb_vhu_vring_addr, struct vhost_vring_addr, index, index);
	SAME_FIELD(struct vtb_vhu_vring_addr, struct vhost_vring_addr, flags, flags);
	SAME_FIELD(struct vtb_vhu_vring_addr, struct vhost_vring_addr, desc, desc_user_addr);
	SAME_FIELD(struct vtb_vhu_vring_addr, struct vhost_vring_addr, used, used_user_addr);
	SAME_FIELD(struct vtb_vhu_vring_addr, struct vhost_vring_addr, avail, avail_user_addr);
	SAME_FIELD(struct vtb_vhu_vring_addr, struct vhost_vring_addr, log, log_guest_addr);
	CHECK_EQ(VTB_VHU_VRING_F_LOG, 1u << VHOST_VRING_F_LOG);
	CHECK_EQ(sizeof(struct vtb_vhu_region), sizeof(struct vhost_memory_region));
	SAME_FIELD(struct vtb_vhu_region, struct vhost_memory_region, gpa, guest_phys_addr);
	SAME_FIELD(struct vtb_vhu_region, struct vhost_memory_region, size, memory_size);
	SAME_FIELD(struct vtb_vhu_region, struct vhost_memory_region, uva, userspace_addr);
	SAME_FIELD(struct vtb_vhu_region, struct vhost_memory_region, mmap_offset, flags_padding);
	CHECK_EQ(offsetof(struct vtb_vhu_memory, regions), offsetof(struct vhost_memory, regions));

	/* The hypervisor's pin, case by case: transports/tests/test_grant.c. */
	CHECK_EQ(vtb_dma_to_gref(vtb_grant_to_dma(1234) + 100), 1234);
	return vtb_test_end("test_uapi");
}
