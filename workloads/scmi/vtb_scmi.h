/* virtio-scmi device model (virtio 1.2 §5.17) with an SCMI platform server
 * (Arm DEN0056): BASE, PERF, CLOCK and SENSOR protocols on the command
 * queue, PERF level notifications on the event queue.  Freestanding. */
#ifndef VTB_SCMI_H
#define VTB_SCMI_H

#include "../../transports/core/vtb_devio.h"
#include "../../transports/core/vtb_virtio.h"

#define VTB_SCMI_F_P2A_CHANNELS 0
#define VTB_SCMI_Q_CMD   0
#define VTB_SCMI_Q_EVENT 1

/* Message header: id [7:0], type [9:8], protocol [17:10], token [27:18]. */
#define VTB_SCMI_HDR(id, type, proto, token) \
	((uint32_t)(id) | ((uint32_t)(type) << 8) | ((uint32_t)(proto) << 10) | ((uint32_t)(token) << 18))
#define VTB_SCMI_HDR_ID(h)    ((h) & 0xffu)
#define VTB_SCMI_HDR_TYPE(h)  (((h) >> 8) & 0x3u)
#define VTB_SCMI_HDR_PROTO(h) (((h) >> 10) & 0xffu)
#define VTB_SCMI_HDR_TOKEN(h) (((h) >> 18) & 0x3ffu)
#define VTB_SCMI_TYPE_CMD    0
#define VTB_SCMI_TYPE_DELAYED 2
#define VTB_SCMI_TYPE_NOTIF  3

#define VTB_SCMI_PROTO_BASE   0x10
#define VTB_SCMI_PROTO_PERF   0x13
#define VTB_SCMI_PROTO_CLOCK  0x14
#define VTB_SCMI_PROTO_SENSOR 0x15

/* Commands common to every protocol */
#define VTB_SCMI_PROTOCOL_VERSION            0x0
#define VTB_SCMI_PROTOCOL_ATTRIBUTES         0x1
#define VTB_SCMI_PROTOCOL_MESSAGE_ATTRIBUTES 0x2
/* BASE */
#define VTB_SCMI_BASE_DISCOVER_VENDOR       0x3
#define VTB_SCMI_BASE_DISCOVER_SUB_VENDOR   0x4
#define VTB_SCMI_BASE_DISCOVER_IMPL_VERSION 0x5
#define VTB_SCMI_BASE_DISCOVER_LIST_PROTOCOLS 0x6
#define VTB_SCMI_BASE_NOTIFY_ERRORS         0x8
/* PERF */
#define VTB_SCMI_PERF_DOMAIN_ATTRIBUTES 0x3
#define VTB_SCMI_PERF_DESCRIBE_LEVELS   0x4
#define VTB_SCMI_PERF_LIMITS_SET        0x5
#define VTB_SCMI_PERF_LIMITS_GET        0x6
#define VTB_SCMI_PERF_LEVEL_SET         0x7
#define VTB_SCMI_PERF_LEVEL_GET         0x8
#define VTB_SCMI_PERF_NOTIFY_LIMITS     0x9
#define VTB_SCMI_PERF_NOTIFY_LEVEL      0xa
#define VTB_SCMI_PERF_LEVEL_CHANGED     0x1	/* notification id */
/* PERFORMANCE_DOMAIN_ATTRIBUTES attributes word (DEN0056 4.5.3.x; Linux
 * perf.c SUPPORTS_*): bits 27..0 are reserved in PERF v1.0. */
#define VTB_SCMI_PERF_DOM_SET_LIMITS    (1u << 31)
#define VTB_SCMI_PERF_DOM_SET_LEVEL     (1u << 30)
#define VTB_SCMI_PERF_DOM_LIMITS_NOTIFY (1u << 29)
#define VTB_SCMI_PERF_DOM_LEVEL_NOTIFY  (1u << 28)
/* CLOCK */
#define VTB_SCMI_CLOCK_ATTRIBUTES     0x3
#define VTB_SCMI_CLOCK_DESCRIBE_RATES 0x4
#define VTB_SCMI_CLOCK_RATE_SET       0x5
#define VTB_SCMI_CLOCK_RATE_GET       0x6
#define VTB_SCMI_CLOCK_CONFIG_SET     0x7
/* SENSOR */
#define VTB_SCMI_SENSOR_DESCRIPTION_GET   0x3
#define VTB_SCMI_SENSOR_TRIP_POINT_NOTIFY 0x4
#define VTB_SCMI_SENSOR_TRIP_POINT_CONFIG 0x5
#define VTB_SCMI_SENSOR_READING_GET       0x6

/* Agent ids: 0 is the platform itself, agents count from 1 (DEN0056
 * BASE_DISCOVER_AGENT); the driver is the only agent. */
#define VTB_SCMI_AGENT_ID 1

/* Status codes */
#define VTB_SCMI_SUCCESS         0
#define VTB_SCMI_NOT_SUPPORTED  (-1)
#define VTB_SCMI_INVALID_PARAMS (-2)
#define VTB_SCMI_DENIED         (-3)
#define VTB_SCMI_NOT_FOUND      (-4)
#define VTB_SCMI_OUT_OF_RANGE   (-5)
#define VTB_SCMI_BUSY           (-6)
#define VTB_SCMI_COMMS_ERROR    (-7)
#define VTB_SCMI_GENERIC_ERROR  (-8)
#define VTB_SCMI_PROTOCOL_ERROR (-10)

/* The platform this server models; the FE's generator checks answers
 * against these tables and DEN0056, not against the server's code. */
#define VTB_SCMI_NUM_SENSORS 8
#define VTB_SCMI_NUM_CLOCKS  4
#define VTB_SCMI_NUM_RATES   8
#define VTB_SCMI_NUM_PERF    2
#define VTB_SCMI_NUM_LEVELS  8
#define VTB_SCMI_MAX_MSG     128	/* bytes of parameters or return values */
#define VTB_SCMI_RATES_PER_MSG 4	/* DESCRIBE_RATES returns at most this many */
#define VTB_SCMI_DESCS_PER_MSG 2	/* SENSOR_DESCRIPTION_GET likewise */
#define VTB_SCMI_LEVELS_PER_MSG 3	/* PERFORMANCE_DESCRIBE_LEVELS likewise */
#define VTB_SCMI_PERF_LATENCY_US 50	/* every level's transition latency */

static inline uint64_t vtb_scmi_rate(unsigned clock, unsigned idx)
{
	return (uint64_t)(clock + 1) * 100000000ull + (uint64_t)idx * 50000000ull;
}
static inline uint32_t vtb_scmi_level(unsigned dom, unsigned idx)
{
	return (uint32_t)((dom + 1) * 100 + idx * 25);
}
/* Power cost of a level, in the abstract linear scale (PERF
 * PROTOCOL_ATTRIBUTES bit 16 clear). */
static inline uint32_t vtb_scmi_level_power(unsigned dom, unsigned idx)
{
	return (uint32_t)((dom + 1) * (idx + 1) * 10);
}
/* Sensor readings: the n-th reading of a sensor is a pure function of the
 * seed, so the FE can check each response without sharing state. */
uint64_t vtb_scmi_sensor_value(uint64_t seed, unsigned sensor, uint64_t n);

struct vtb_scmi_stats {
	uint64_t cmds;
	uint64_t errors;	/* responses with a non-zero status */
	uint64_t bad_msgs;	/* chains too short to carry a header */
	uint64_t notifs;	/* notifications delivered */
	uint64_t notifs_dropped;	/* pending queue full, or an event buffer too small */
};

struct vtb_scmi;
size_t vtb_scmi_memsize(void);
struct vtb_scmi *vtb_scmi_init(void *mem, uint64_t seed, const struct vtb_dev_io *io);
/* events: VIRTIO_SCMI_F_P2A_CHANNELS was negotiated (the event queue
 * exists).  Without it the server behaves as one that implements no
 * notification (virtio 1.2 5.17.6.1.1): requests for one are refused with
 * NOT_SUPPORTED and no attribute advertises one. */
void vtb_scmi_set_events(struct vtb_scmi *s, bool events);
int vtb_scmi_process(struct vtb_scmi *s, unsigned budget);
/* The command queue, plus the event queue while notifications wait. */
uint32_t vtb_scmi_wake_mask(const struct vtb_scmi *s);
/* Handles one message: in/out are flat buffers; returns response bytes. */
uint32_t vtb_scmi_handle(struct vtb_scmi *s, const void *msg, uint32_t len, void *resp, uint32_t cap);
const struct vtb_scmi_stats *vtb_scmi_stats(const struct vtb_scmi *s);
/* Sensor i: how many readings the server gave, and the last one (0 if none). */
uint64_t vtb_scmi_sensor_reads(const struct vtb_scmi *s, unsigned i);
uint64_t vtb_scmi_sensor_last(const struct vtb_scmi *s, unsigned i);

#endif
