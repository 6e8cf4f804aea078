/* Unit tests for the virtio-blk request parser: hostile chains first, then the happy paths. */
#include "test_util.h"

#include <endian.h>
#include <string.h>

#include "devices/virtio/blk_request.h"
#include "devices/virtio/queue.h"
#include "vmm/memory.h"

/*
 * Most tests build a struct virtq_chain by hand: the parser sees only the
 * iovecs. Each buffer is its own exactly sized malloc() block, so that
 * AddressSanitizer catches a parser that reads one byte past an iovec.
 * The last tests go through a real virtqueue over simulated guest memory.
 */
#define CAPACITY	1024 /* sectors */
#define MAX_DISCARD	64   /* sectors per discard segment */
#define MAX_WZ		128  /* sectors per write-zeroes segment */
#define MAX_SEGMENTS	4
#define MAX_BUFS	1024
#define FILL_READABLE	0x11
#define FILL_WRITABLE	0x22
#define FILL_STATUS	0xaa
#define T_UNKNOWN_TYPES 2, 3, 5, 7, 9, 10, 12, 14, 16, 0x80000000u, UINT32_MAX

struct fixture {
	struct virtq_chain chain;
	struct blk_request req;
	struct blk_limits limits;
	void *bufs[MAX_BUFS];
	unsigned nbufs;
};

/* --- building chains --- */

static uint8_t *buf(struct fixture *f, size_t len, uint8_t fill)
{
	uint8_t *p = malloc(len ? len : 1);

	TEST_ASSERT(p && f->nbufs < MAX_BUFS, "test bug: out of buffers");
	memset(p, fill, len);
	f->bufs[f->nbufs++] = p;
	return p;
}

static void add_iov(struct fixture *f, void *p, size_t len, bool writable)
{
	struct virtq_chain *c = &f->chain;

	TEST_ASSERT(writable || c->in_num == 0, "test bug: readable buffer after a writable one");
	TEST_ASSERT(c->out_num + c->in_num < VIRTQ_MAX_IOV, "test bug: too many iovecs");
	c->iov[c->out_num + c->in_num] = (struct iovec){ p, len };
	if (writable) {
		c->in_num++;
		c->in_len += len;
	} else {
		c->out_num++;
		c->out_len += len;
	}
}

static uint8_t *add_out(struct fixture *f, size_t len)
{
	uint8_t *p = buf(f, len, FILL_READABLE);

	add_iov(f, p, len, false);
	return p;
}

static uint8_t *add_in(struct fixture *f, size_t len)
{
	uint8_t *p = buf(f, len, FILL_WRITABLE);

	add_iov(f, p, len, true);
	return p;
}

static uint8_t *add_status(struct fixture *f)
{
	uint8_t *p = add_in(f, 1);

	*p = FILL_STATUS;
	return p;
}

static void put_header(uint8_t *p, uint32_t type, uint64_t sector)
{
	uint32_t le_type = htole32(type), reserved = htole32(0xdeadbeef);
	uint64_t le_sector = htole64(sector);

	memcpy(p, &le_type, 4);
	memcpy(p + 4, &reserved, 4);
	memcpy(p + 8, &le_sector, 8);
}

static uint8_t *add_header(struct fixture *f, uint32_t type, uint64_t sector)
{
	uint8_t *p = add_out(f, 16);

	put_header(p, type, sector);
	return p;
}

static void put_segment(uint8_t *p, uint64_t sector, uint32_t num_sectors, uint32_t flags)
{
	uint64_t le_sector = htole64(sector);
	uint32_t le_num = htole32(num_sectors), le_flags = htole32(flags);

	memcpy(p, &le_sector, 8);
	memcpy(p + 8, &le_num, 4);
	memcpy(p + 12, &le_flags, 4);
}

/* A discard / write-zeroes request: header, n segments in one buffer, status. */
static uint8_t *segment_request(struct fixture *f, uint32_t type, const struct blk_segment *segs,
				unsigned n)
{
	uint8_t *p;

	add_header(f, type, 0);
	p = add_out(f, 16 * n);
	for (unsigned i = 0; i < n; i++)
		put_segment(p + 16 * i, segs[i].sector, segs[i].num_sectors, segs[i].flags);
	return add_status(f);
}

/* A header and a status byte, with len data bytes in between in the given direction. */
static uint8_t *simple_request(struct fixture *f, uint32_t type, uint64_t sector, size_t len,
			       bool writable)
{
	add_header(f, type, sector);
	if (len)
		(writable ? add_in : add_out)(f, len);
	return add_status(f);
}

static void chain_reset(struct fixture *f)
{
	f->chain.head = 0;
	f->chain.out_num = f->chain.in_num = 0;
	f->chain.out_len = f->chain.in_len = 0;
}

/* --- checking results --- */

/* Parses into a request full of garbage: the parser must set every field it promises. */
#define ASSERT_PARSE(f, expect)                                                              \
	do {                                                                                 \
		enum blk_request_error r_, e_ = (expect);                                    \
		memset(&(f)->req, 0xa5, sizeof((f)->req));                                   \
		r_ = blk_request_parse(&(f)->chain, &(f)->limits, &(f)->req);                \
		TEST_ASSERT(r_ == e_, "blk_request_parse() = %d (%s), expected %d (%s)", r_, \
			    blk_request_strerror(r_), e_, blk_request_strerror(e_));         \
	} while (0)

#define ASSERT_DATA(f, i, ptr, len)                                   \
	do {                                                          \
		TEST_ASSERT_PTR_EQ((f)->req.data[i].iov_base, (ptr)); \
		TEST_ASSERT_EQ((f)->req.data[i].iov_len, (len));      \
	} while (0)

/* A rejected request: its status byte to complete, nothing else to use. */
static void assert_rejected(struct fixture *f, enum blk_request_error err, const uint8_t *status,
			    uint8_t code)
{
	ASSERT_PARSE(f, err);
	TEST_ASSERT_PTR_EQ(f->req.status, status);
	TEST_ASSERT_EQ(f->req.data_num, 0);
	TEST_ASSERT_EQ(f->req.data_len, 0);
	TEST_ASSERT_EQ(f->req.num_segments, 0);
	TEST_ASSERT_EQ(blk_request_status(err), code);
	/* The parser writes nothing, not even the status. */
	TEST_ASSERT_EQ(*status, FILL_STATUS);
	chain_reset(f);
}

static void assert_ioerr(struct fixture *f, enum blk_request_error err, const uint8_t *status)
{
	assert_rejected(f, err, status, VIRTIO_BLK_S_IOERR);
}

static void assert_unsupp(struct fixture *f, const uint8_t *status)
{
	assert_rejected(f, BLK_E_UNSUPPORTED, status, VIRTIO_BLK_S_UNSUPP);
}

static void assert_ok(struct fixture *f, uint32_t type, uint64_t sector, const uint8_t *status,
		      unsigned data_num, uint32_t data_len)
{
	ASSERT_PARSE(f, BLK_E_OK);
	TEST_ASSERT_EQ(f->req.type, type);
	TEST_ASSERT_EQ(f->req.sector, sector);
	TEST_ASSERT_PTR_EQ(f->req.status, status);
	TEST_ASSERT_EQ(f->req.data_num, data_num);
	TEST_ASSERT_EQ(f->req.data_len, data_len);
	TEST_ASSERT_EQ(*status, FILL_STATUS);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->limits = (struct blk_limits){
		.capacity = CAPACITY,
		.discard = true,
		.write_zeroes = true,
		.max_discard_sectors = MAX_DISCARD,
		.max_write_zeroes_sectors = MAX_WZ,
		.max_segments = MAX_SEGMENTS,
	};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	for (unsigned i = 0; i < f->nbufs; i++)
		free(f->bufs[i]);
	free(f);
	return 0;
}

/* ------------------------------------------------------- no status ---- */

static void test_no_status(void **state)
{
	struct fixture *f = *state;

	/* Nothing at all. */
	ASSERT_PARSE(f, BLK_E_NO_STATUS);
	TEST_ASSERT_NULL(f->req.status);
	TEST_ASSERT_EQ(f->req.data_num, 0);

	/* A whole IN request but no writable byte. */
	add_header(f, VIRTIO_BLK_T_IN, 0);
	add_out(f, 512);
	ASSERT_PARSE(f, BLK_E_NO_STATUS);
	TEST_ASSERT_NULL(f->req.status);
	TEST_ASSERT_EQ(f->req.data_num, 0);
	TEST_ASSERT_EQ(f->req.data_len, 0);

	/* Writable iovecs, all empty (virtq_pop() never makes these). */
	add_iov(f, buf(f, 0, 0), 0, true);
	add_iov(f, buf(f, 0, 0), 0, true);
	ASSERT_PARSE(f, BLK_E_NO_STATUS);
	TEST_ASSERT_NULL(f->req.status);
}

/* ----------------------------------------------------------- header ---- */

static void test_short_header(void **state)
{
	struct fixture *f = *state;
	uint8_t *status;

	/* No readable byte. */
	status = add_status(f);
	assert_ioerr(f, BLK_E_SHORT_HEADER, status);

	/* 15 bytes, even in pieces. */
	add_out(f, 8);
	add_out(f, 7);
	status = add_status(f);
	assert_ioerr(f, BLK_E_SHORT_HEADER, status);

	/* A header in writable memory does not count. */
	put_header(add_in(f, 16), VIRTIO_BLK_T_FLUSH, 0);
	status = add_status(f);
	assert_ioerr(f, BLK_E_SHORT_HEADER, status);

	/* 15 readable bytes and the 16th in a writable buffer. */
	add_out(f, 15);
	add_in(f, 1);
	status = add_status(f);
	assert_ioerr(f, BLK_E_SHORT_HEADER, status);
}

static void test_header_split_into_single_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t header[16], *data, *status;

	put_header(header, VIRTIO_BLK_T_IN, CAPACITY - 1);
	for (unsigned i = 0; i < 16; i++)
		*add_out(f, 1) = header[i];
	data = add_in(f, 512);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_IN, CAPACITY - 1, status, 1, 512);
	ASSERT_DATA(f, 0, data, 512);

	/* Split unevenly, the last piece running into the data of an OUT. */
	chain_reset(f);
	put_header(header, VIRTIO_BLK_T_OUT, 7);
	memcpy(add_out(f, 5), header, 5);
	memcpy(add_out(f, 1), header + 5, 1);
	memcpy(data = add_out(f, 10 + 1024), header + 6, 10);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_OUT, 7, status, 1, 1024);
	ASSERT_DATA(f, 0, data + 10, 1024);
}

static void test_header_is_copied(void **state)
{
	struct fixture *f = *state;
	uint8_t *header = add_header(f, VIRTIO_BLK_T_IN, 3), *status;

	add_in(f, 512);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_IN, 3, status, 1, 512);
	/* The guest rewriting the header afterwards changes nothing decided. */
	put_header(header, VIRTIO_BLK_T_OUT, UINT64_MAX);
	TEST_ASSERT_EQ(f->req.type, VIRTIO_BLK_T_IN);
	TEST_ASSERT_EQ(f->req.sector, 3);
}

/* ------------------------------------------------------- directions ---- */

static void test_status_byte_is_last_writable_byte(void **state)
{
	struct fixture *f = *state;
	uint8_t *data, *data2;

	/* The tail of a data buffer. */
	add_header(f, VIRTIO_BLK_T_IN, 0);
	data = add_in(f, 513);
	data[512] = FILL_STATUS;
	assert_ok(f, VIRTIO_BLK_T_IN, 0, data + 512, 1, 512);
	ASSERT_DATA(f, 0, data, 512);

	/* ... of the last of several: the others stay whole. */
	chain_reset(f);
	add_header(f, VIRTIO_BLK_T_IN, 0);
	data = add_in(f, 1000);
	data2 = add_in(f, 25);
	data2[24] = FILL_STATUS;
	assert_ok(f, VIRTIO_BLK_T_IN, 0, data2 + 24, 2, 1024);
	ASSERT_DATA(f, 0, data, 1000);
	ASSERT_DATA(f, 1, data2, 24);

	/* Empty writable iovecs after the status buffer are skipped. */
	chain_reset(f);
	add_header(f, VIRTIO_BLK_T_IN, 0);
	data = add_in(f, 513);
	data[512] = FILL_STATUS;
	add_iov(f, buf(f, 0, 0), 0, true);
	assert_ok(f, VIRTIO_BLK_T_IN, 0, data + 512, 1, 512);
	ASSERT_DATA(f, 0, data, 512);

	/* An OUT's single writable byte is its status, whatever came before. */
	chain_reset(f);
	add_header(f, VIRTIO_BLK_T_OUT, 0);
	data = add_out(f, 512);
	data2 = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_OUT, 0, data2, 1, 512);
	ASSERT_DATA(f, 0, data, 512);
}

static void test_wrong_directions(void **state)
{
	struct fixture *f = *state;
	const struct blk_segment seg = { 0, 1, 0 };
	uint8_t *status;

	/* IN whose data the device could only read. */
	status = simple_request(f, VIRTIO_BLK_T_IN, 0, 512, false);
	assert_ioerr(f, BLK_E_DIRECTION, status);
	/* IN with a good writable buffer and one stray readable byte. */
	add_header(f, VIRTIO_BLK_T_IN, 0);
	add_out(f, 1);
	add_in(f, 512);
	status = add_status(f);
	assert_ioerr(f, BLK_E_DIRECTION, status);

	/* OUT whose data the device could only write. */
	status = simple_request(f, VIRTIO_BLK_T_OUT, 0, 512, true);
	assert_ioerr(f, BLK_E_DIRECTION, status);
	/* OUT with good data and one writable byte too many. */
	add_header(f, VIRTIO_BLK_T_OUT, 0);
	add_out(f, 512);
	status = add_in(f, 2) + 1;
	*status = FILL_STATUS;
	assert_ioerr(f, BLK_E_DIRECTION, status);

	/* GET_ID with readable data. */
	add_header(f, VIRTIO_BLK_T_GET_ID, 0);
	add_out(f, 20);
	add_in(f, 20);
	status = add_status(f);
	assert_ioerr(f, BLK_E_DIRECTION, status);

	/* DISCARD and WRITE_ZEROES with writable data. */
	for (uint32_t type = VIRTIO_BLK_T_DISCARD; type <= VIRTIO_BLK_T_WRITE_ZEROES; type += 2) {
		add_header(f, type, 0);
		put_segment(add_out(f, 16), seg.sector, seg.num_sectors, seg.flags);
		add_in(f, 16);
		status = add_status(f);
		assert_ioerr(f, BLK_E_DIRECTION, status);
	}
}

/* ---------------------------------------------------- length, range ---- */

static void test_length_not_sector_multiple(void **state)
{
	struct fixture *f = *state;
	static const size_t bad[] = { 1, 100, 511, 513, 1023, 4097 };
	uint8_t *status;

	for (unsigned i = 0; i < ARRAY_LEN(bad); i++) {
		status = simple_request(f, VIRTIO_BLK_T_IN, 0, bad[i], true);
		assert_ioerr(f, BLK_E_LENGTH, status);
		status = simple_request(f, VIRTIO_BLK_T_OUT, 0, bad[i], false);
		assert_ioerr(f, BLK_E_LENGTH, status);
	}
	/* 512 bytes in total, but a byte lost to the status: 511. */
	add_header(f, VIRTIO_BLK_T_IN, 0);
	status = add_in(f, 512) + 511;
	*status = FILL_STATUS;
	assert_ioerr(f, BLK_E_LENGTH, status);
}

static void test_chain_over_4g(void **state)
{
	struct fixture *f = *state;
	uint8_t *status;

	/* Lengths only virtq_pop() could vouch for: never dereferenced here. */
	add_header(f, VIRTIO_BLK_T_OUT, 0);
	add_iov(f, buf(f, 1, 0), UINT32_MAX, false);
	status = add_status(f);
	assert_ioerr(f, BLK_E_LENGTH, status);

	add_header(f, VIRTIO_BLK_T_OUT, 0);
	add_iov(f, buf(f, 1, 0), (size_t)UINT32_MAX - 16, false);
	status = add_status(f);
	assert_ioerr(f, BLK_E_LENGTH, status);
}

static void test_range(void **state)
{
	struct fixture *f = *state;
	uint8_t *status;

	for (uint32_t type = VIRTIO_BLK_T_IN; type <= VIRTIO_BLK_T_OUT; type++) {
		bool writable = type == VIRTIO_BLK_T_IN;

		/* One sector past the end. */
		status = simple_request(f, type, CAPACITY - 1, 1024, writable);
		assert_ioerr(f, BLK_E_RANGE, status);
		status = simple_request(f, type, CAPACITY, 512, writable);
		assert_ioerr(f, BLK_E_RANGE, status);
		/* Nothing at all, but starting past the end. */
		status = simple_request(f, type, CAPACITY + 1, 0, writable);
		assert_ioerr(f, BLK_E_RANGE, status);
		/* sector + count would wrap around to a small number. */
		status = simple_request(f, type, UINT64_MAX, 512, writable);
		assert_ioerr(f, BLK_E_RANGE, status);
		status = simple_request(f, type, UINT64_MAX - 1, 1024, writable);
		assert_ioerr(f, BLK_E_RANGE, status);
		status = simple_request(f, type, UINT64_MAX, 0, writable);
		assert_ioerr(f, BLK_E_RANGE, status);
		/* Up to the last sector is fine, so is nothing at the very end. */
		status = simple_request(f, type, CAPACITY - 2, 1024, writable);
		assert_ok(f, type, CAPACITY - 2, status, 1, 1024);
		chain_reset(f);
		status = simple_request(f, type, CAPACITY, 0, writable);
		assert_ok(f, type, CAPACITY, status, 0, 0);
		chain_reset(f);
	}

	/* A disk of 2^64 - 1 sectors: the last one is in, nothing overflows. */
	f->limits.capacity = UINT64_MAX;
	status = simple_request(f, VIRTIO_BLK_T_IN, UINT64_MAX - 1, 512, true);
	assert_ok(f, VIRTIO_BLK_T_IN, UINT64_MAX - 1, status, 1, 512);
	chain_reset(f);
	status = simple_request(f, VIRTIO_BLK_T_IN, UINT64_MAX, 512, true);
	assert_ioerr(f, BLK_E_RANGE, status);
	status = simple_request(f, VIRTIO_BLK_T_OUT, UINT64_MAX - 1, 1024, false);
	assert_ioerr(f, BLK_E_RANGE, status);

	/* An empty disk takes only empty requests at sector 0. */
	f->limits.capacity = 0;
	status = simple_request(f, VIRTIO_BLK_T_IN, 0, 512, true);
	assert_ioerr(f, BLK_E_RANGE, status);
	status = simple_request(f, VIRTIO_BLK_T_IN, 0, 0, true);
	assert_ok(f, VIRTIO_BLK_T_IN, 0, status, 0, 0);
}

static void test_readonly(void **state)
{
	struct fixture *f = *state;
	const struct blk_segment seg = { 0, 1, 0 };
	uint8_t *status, *data;

	f->limits.readonly = true;
	status = simple_request(f, VIRTIO_BLK_T_OUT, 0, 512, false);
	assert_ioerr(f, BLK_E_READONLY, status);
	/* Read-only wins over a shape that is wrong too. */
	status = simple_request(f, VIRTIO_BLK_T_OUT, CAPACITY, 3, true);
	assert_ioerr(f, BLK_E_READONLY, status);
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, &seg, 1);
	assert_ioerr(f, BLK_E_READONLY, status);
	status = segment_request(f, VIRTIO_BLK_T_WRITE_ZEROES, &seg, 1);
	assert_ioerr(f, BLK_E_READONLY, status);
	/* ... but not over an unsupported operation. */
	f->limits.discard = false;
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, &seg, 1);
	assert_unsupp(f, status);

	/* Reading, flushing and asking for the ID still work. */
	add_header(f, VIRTIO_BLK_T_IN, 1);
	data = add_in(f, 512);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_IN, 1, status, 1, 512);
	ASSERT_DATA(f, 0, data, 512);
	chain_reset(f);
	status = simple_request(f, VIRTIO_BLK_T_FLUSH, 0, 0, true);
	assert_ok(f, VIRTIO_BLK_T_FLUSH, 0, status, 0, 0);
	chain_reset(f);
	status = simple_request(f, VIRTIO_BLK_T_GET_ID, 0, 20, true);
	assert_ok(f, VIRTIO_BLK_T_GET_ID, 0, status, 1, 20);
}

static void test_get_id_without_buffer(void **state)
{
	struct fixture *f = *state;
	uint8_t *status;

	status = simple_request(f, VIRTIO_BLK_T_GET_ID, 0, 0, true);
	assert_ioerr(f, BLK_E_LENGTH, status);
	add_header(f, VIRTIO_BLK_T_GET_ID, 0);
	add_iov(f, buf(f, 0, 0), 0, true);
	status = add_status(f);
	assert_ioerr(f, BLK_E_LENGTH, status);
}

/* ---------------------------------------------- discard, write zeroes ---- */

static void test_segments_not_negotiated(void **state)
{
	struct fixture *f = *state;
	const struct blk_segment seg = { 0, 1, 0 };
	uint8_t *status;

	f->limits.discard = false;
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, &seg, 1);
	assert_unsupp(f, status);
	status = segment_request(f, VIRTIO_BLK_T_WRITE_ZEROES, &seg, 1);
	assert_ok(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, status, 0, 0);
	chain_reset(f);

	f->limits.discard = true;
	f->limits.write_zeroes = false;
	status = segment_request(f, VIRTIO_BLK_T_WRITE_ZEROES, &seg, 1);
	assert_unsupp(f, status);
	/* Even without segments: unsupported comes first. */
	status = simple_request(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, true);
	assert_unsupp(f, status);
}

static void test_segments_bad_array(void **state)
{
	struct fixture *f = *state;
	struct blk_segment segs[BLK_MAX_SEGMENTS + 1];
	static const size_t partial[] = { 1, 8, 15, 17, 24, 31, 33 };
	uint8_t *status;

	for (unsigned i = 0; i < ARRAY_LEN(segs); i++)
		segs[i] = (struct blk_segment){ i, 1, 0 };
	for (uint32_t type = VIRTIO_BLK_T_DISCARD; type <= VIRTIO_BLK_T_WRITE_ZEROES; type += 2) {
		/* None. */
		status = simple_request(f, type, 0, 0, false);
		assert_ioerr(f, BLK_E_SEGMENTS, status);
		/* Not a whole number of them. */
		for (unsigned i = 0; i < ARRAY_LEN(partial); i++) {
			status = simple_request(f, type, 0, partial[i], false);
			assert_ioerr(f, BLK_E_SEGMENTS, status);
		}
		/* One more than max_segments. */
		status = segment_request(f, type, segs, MAX_SEGMENTS + 1);
		assert_ioerr(f, BLK_E_SEGMENTS, status);
	}

	/* A max_segments beyond what the parser holds counts as BLK_MAX_SEGMENTS. */
	f->limits.max_segments = UINT32_MAX;
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, segs, BLK_MAX_SEGMENTS + 1);
	assert_ioerr(f, BLK_E_SEGMENTS, status);
	/* And a limit of 0 lets none through. */
	f->limits.max_segments = 0;
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, segs, 1);
	assert_ioerr(f, BLK_E_SEGMENTS, status);
}

static void test_segments_bad_segment(void **state)
{
	struct fixture *f = *state;
	struct blk_segment segs[2] = { { 0, 1, 0 }, { 0, 1, 0 } };
	uint8_t *status;

	for (uint32_t type = VIRTIO_BLK_T_DISCARD; type <= VIRTIO_BLK_T_WRITE_ZEROES; type += 2) {
		uint32_t max = type == VIRTIO_BLK_T_DISCARD ? MAX_DISCARD : MAX_WZ;

		/* Past the end, in the second segment, or wrapping around. */
		segs[1] = (struct blk_segment){ CAPACITY, 1, 0 };
		status = segment_request(f, type, segs, 2);
		assert_ioerr(f, BLK_E_RANGE, status);
		segs[1] = (struct blk_segment){ CAPACITY - 1, 2, 0 };
		status = segment_request(f, type, segs, 2);
		assert_ioerr(f, BLK_E_RANGE, status);
		segs[1] = (struct blk_segment){ UINT64_MAX, 1, 0 };
		status = segment_request(f, type, segs, 2);
		assert_ioerr(f, BLK_E_RANGE, status);
		segs[1] = (struct blk_segment){ CAPACITY + 1, 0, 0 };
		status = segment_request(f, type, segs, 2);
		assert_ioerr(f, BLK_E_RANGE, status);
		/* More sectors than this operation allows per segment. */
		segs[1] = (struct blk_segment){ 0, max + 1, 0 };
		status = segment_request(f, type, segs, 2);
		assert_ioerr(f, BLK_E_SEGMENTS, status);
		segs[1] = (struct blk_segment){ 0, UINT32_MAX, 0 };
		status = segment_request(f, type, segs, 2);
		assert_ioerr(f, BLK_E_SEGMENTS, status);
		/* Unknown flags are unsupported, before any range problem. */
		for (unsigned bit = 1; bit < 32; bit++) {
			segs[0] = (struct blk_segment){ UINT64_MAX, UINT32_MAX, 0 };
			segs[1] = (struct blk_segment){ 0, 1, 1u << bit };
			status = segment_request(f, type, segs, 2);
			assert_unsupp(f, status);
		}
		segs[0] = (struct blk_segment){ 0, 1, 0 };
	}

	/* §5.2.6.2: UNSUPP for a discard with UNMAP, wherever the segment is. */
	segs[1] = (struct blk_segment){ 0, 1, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, segs, 2);
	assert_unsupp(f, status);
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, segs + 1, 1);
	assert_unsupp(f, status);
	/* A write-zeroes segment may exceed the discard limit, not its own. */
	segs[1] = (struct blk_segment){ 0, MAX_DISCARD + 1, 0 };
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, segs, 2);
	assert_ioerr(f, BLK_E_SEGMENTS, status);
	status = segment_request(f, VIRTIO_BLK_T_WRITE_ZEROES, segs, 2);
	assert_ok(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, status, 0, 0);
}

static void test_unknown_types(void **state)
{
	struct fixture *f = *state;
	static const uint32_t types[] = { T_UNKNOWN_TYPES };
	uint8_t *status;

	for (unsigned i = 0; i < ARRAY_LEN(types); i++) {
		status = simple_request(f, types[i], 0, 512, true);
		assert_unsupp(f, status);
		status = simple_request(f, types[i], 0, 0, true);
		assert_unsupp(f, status);
		TEST_ASSERT_EQ(f->req.type, types[i]);
	}
}

/* ---------------------------------------------------- happy paths ---- */

static void test_in(void **state)
{
	struct fixture *f = *state;
	uint8_t *a, *b, *c, *status;

	/* Odd sizes that add up to whole sectors, plus an empty iovec. */
	add_header(f, VIRTIO_BLK_T_IN, 100);
	a = add_in(f, 100);
	add_iov(f, buf(f, 0, 0), 0, true);
	b = add_in(f, 1000);
	c = add_in(f, 436);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_IN, 100, status, 3, 1536);
	ASSERT_DATA(f, 0, a, 100);
	ASSERT_DATA(f, 1, b, 1000);
	ASSERT_DATA(f, 2, c, 436);
	TEST_ASSERT_EQ(f->req.num_segments, 0);

	/* Nothing to read is fine. */
	chain_reset(f);
	status = simple_request(f, VIRTIO_BLK_T_IN, 5, 0, true);
	assert_ok(f, VIRTIO_BLK_T_IN, 5, status, 0, 0);
}

static void test_out(void **state)
{
	struct fixture *f = *state;
	uint8_t *header, *a, *status;

	/* Header and data in one buffer, the data in two. */
	header = add_out(f, 16 + 1000);
	put_header(header, VIRTIO_BLK_T_OUT, 9);
	a = add_out(f, 24);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_OUT, 9, status, 2, 1024);
	ASSERT_DATA(f, 0, header + 16, 1000);
	ASSERT_DATA(f, 1, a, 24);

	/* The largest chain: 1022 iovecs of data, each a sector. */
	chain_reset(f);
	add_header(f, VIRTIO_BLK_T_OUT, 0);
	a = buf(f, 512 * (VIRTQ_MAX_IOV - 2), FILL_READABLE);
	for (unsigned i = 0; i < VIRTQ_MAX_IOV - 2; i++)
		add_iov(f, a + 512 * i, 512, false);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_OUT, 0, status, VIRTQ_MAX_IOV - 2, 512 * (VIRTQ_MAX_IOV - 2));
	for (unsigned i = 0; i < VIRTQ_MAX_IOV - 2; i++)
		ASSERT_DATA(f, i, a + 512 * i, 512);
}

static void test_flush(void **state)
{
	struct fixture *f = *state;
	uint8_t *status;

	status = simple_request(f, VIRTIO_BLK_T_FLUSH, 0, 0, true);
	assert_ok(f, VIRTIO_BLK_T_FLUSH, 0, status, 0, 0);
	/* The sector a driver should have left 0, and data it should not have sent. */
	chain_reset(f);
	add_header(f, VIRTIO_BLK_T_FLUSH, UINT64_MAX);
	add_out(f, 7);
	add_in(f, 9);
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_FLUSH, UINT64_MAX, status, 0, 0);
}

static void test_get_id(void **state)
{
	struct fixture *f = *state;
	static const size_t lens[] = { 1, 19, VIRTIO_BLK_ID_BYTES, 21, 512 };
	uint8_t *data, *status;

	/* Linux passes 20 bytes; fewer or more are taken as they come. */
	for (unsigned i = 0; i < ARRAY_LEN(lens); i++) {
		chain_reset(f);
		add_header(f, VIRTIO_BLK_T_GET_ID, 0);
		data = add_in(f, lens[i]);
		status = add_status(f);
		assert_ok(f, VIRTIO_BLK_T_GET_ID, 0, status, 1, lens[i]);
		ASSERT_DATA(f, 0, data, lens[i]);
	}
	/* In two pieces, the status at the end of the second. */
	chain_reset(f);
	add_header(f, VIRTIO_BLK_T_GET_ID, 0);
	data = add_in(f, 8);
	status = add_in(f, 13) + 12;
	*status = FILL_STATUS;
	assert_ok(f, VIRTIO_BLK_T_GET_ID, 0, status, 2, 20);
	ASSERT_DATA(f, 0, data, 8);
	ASSERT_DATA(f, 1, status - 12, 12);
}

static void assert_segment(struct fixture *f, unsigned i, uint64_t sector, uint32_t num_sectors,
			   uint32_t flags)
{
	TEST_ASSERT_EQ(f->req.segments[i].sector, sector);
	TEST_ASSERT_EQ(f->req.segments[i].num_sectors, num_sectors);
	TEST_ASSERT_EQ(f->req.segments[i].flags, flags);
}

static void test_discard_and_write_zeroes(void **state)
{
	struct fixture *f = *state;
	const struct blk_segment segs[MAX_SEGMENTS] = {
		{ 0, MAX_DISCARD, 0 },
		{ CAPACITY - 1, 1, 0 },
		{ CAPACITY, 0, 0 },
		{ 0x123, 0x40, 0 },
	};
	struct blk_segment many[BLK_MAX_SEGMENTS];
	uint8_t *status;

	status = segment_request(f, VIRTIO_BLK_T_DISCARD, segs, MAX_SEGMENTS);
	assert_ok(f, VIRTIO_BLK_T_DISCARD, 0, status, 0, 0);
	TEST_ASSERT_EQ(f->req.num_segments, MAX_SEGMENTS);
	for (unsigned i = 0; i < MAX_SEGMENTS; i++)
		assert_segment(f, i, segs[i].sector, segs[i].num_sectors, 0);

	/* WRITE_ZEROES may unmap. */
	chain_reset(f);
	many[0] = (struct blk_segment){ 8, MAX_WZ, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP };
	status = segment_request(f, VIRTIO_BLK_T_WRITE_ZEROES, many, 1);
	assert_ok(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, status, 0, 0);
	TEST_ASSERT_EQ(f->req.num_segments, 1);
	assert_segment(f, 0, 8, MAX_WZ, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);

	/* As many as the parser holds. */
	chain_reset(f);
	f->limits.max_segments = BLK_MAX_SEGMENTS;
	for (unsigned i = 0; i < BLK_MAX_SEGMENTS; i++)
		many[i] = (struct blk_segment){ 2 * i, 2, 0 };
	status = segment_request(f, VIRTIO_BLK_T_DISCARD, many, BLK_MAX_SEGMENTS);
	assert_ok(f, VIRTIO_BLK_T_DISCARD, 0, status, 0, 0);
	TEST_ASSERT_EQ(f->req.num_segments, BLK_MAX_SEGMENTS);
	for (unsigned i = 0; i < BLK_MAX_SEGMENTS; i++)
		assert_segment(f, i, 2 * i, 2, 0);
}

static void test_segments_split_over_iovecs(void **state)
{
	struct fixture *f = *state;
	uint8_t raw[48], header[16], *status;
	unsigned cuts[] = { 3, 1, 16, 9, 1, 1, 17 }; /* 48 bytes in odd pieces */
	unsigned off = 0;

	put_header(header, VIRTIO_BLK_T_WRITE_ZEROES, 0);
	put_segment(raw, 1, 2, 0);
	put_segment(raw + 16, 0x10, 0x20, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	put_segment(raw + 32, CAPACITY - MAX_WZ, MAX_WZ, 0);
	/* The header's last 4 bytes share a buffer with the first segment bytes. */
	memcpy(add_out(f, 12), header, 12);
	for (unsigned i = 0; i < ARRAY_LEN(cuts); i++) {
		uint8_t *p = add_out(f, cuts[i] + (i == 0 ? 4 : 0));

		if (i == 0) {
			memcpy(p, header + 12, 4);
			p += 4;
		}
		memcpy(p, raw + off, cuts[i]);
		off += cuts[i];
	}
	TEST_ASSERT_EQ(off, sizeof(raw));
	status = add_status(f);
	assert_ok(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, status, 0, 0);
	TEST_ASSERT_EQ(f->req.num_segments, 3);
	assert_segment(f, 0, 1, 2, 0);
	assert_segment(f, 1, 0x10, 0x20, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
	assert_segment(f, 2, CAPACITY - MAX_WZ, MAX_WZ, 0);
}

/* ------------------------------------- through a real virtqueue ---- */

/* Guest RAM: one exactly sized region; rings, buffers and an indirect table. */
#define RAM_GPA	  0x10000ULL
#define RAM_SIZE  0x10000ULL
#define DESC_GPA  RAM_GPA
#define AVAIL_GPA (RAM_GPA + 0x1000)
#define USED_GPA  (RAM_GPA + 0x2000)
#define TABLE_GPA (RAM_GPA + 0x3000)
#define BUF_GPA	  (RAM_GPA + 0x4000)
#define QSIZE	  8

struct guest {
	struct gmem mem;
	uint8_t *ram;
	struct virtq vq;
	uint16_t avail_idx;
};

static uint8_t *gpa_ptr(struct guest *g, uint64_t gpa, size_t len)
{
	uint8_t *p = gmem_ptr(&g->mem, gpa, len);

	TEST_ASSERT(p, "test bug: [%#" PRIx64 ", +%zu) is not in guest RAM", gpa, len);
	return p;
}

static void guest_init(struct guest *g)
{
	memset(g, 0, sizeof(*g));
	g->ram = calloc(1, RAM_SIZE);
	TEST_ASSERT(g->ram, "calloc");
	TEST_ASSERT_EQ(gmem_add_region(&g->mem, RAM_GPA, RAM_SIZE, g->ram), 0);
	TEST_ASSERT_EQ(
		virtq_init(&g->vq, &g->mem, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, true, false), 0);
}

static void write_desc(struct guest *g, uint64_t table, unsigned i, uint64_t addr, uint32_t len,
		       uint16_t flags, uint16_t next)
{
	struct virtq_desc d = {
		.addr = htole64(addr),
		.len = htole32(len),
		.flags = htole16(flags),
		.next = htole16(next),
	};

	memcpy(gpa_ptr(g, table + 16ULL * i, 16), &d, 16);
}

static void make_avail(struct guest *g, uint16_t head)
{
	uint16_t le = htole16(head);

	memcpy(gpa_ptr(g, AVAIL_GPA + 4 + 2ULL * (g->avail_idx % QSIZE), 2), &le, 2);
	g->avail_idx++;
	le = htole16(g->avail_idx);
	memcpy(gpa_ptr(g, AVAIL_GPA + 2, 2), &le, 2);
}

static uint32_t used_len(struct guest *g, uint16_t idx)
{
	uint32_t le;

	memcpy(&le, gpa_ptr(g, USED_GPA + 8 + 8ULL * (idx % QSIZE), 4), 4);
	return le32toh(le);
}

/* Pops one chain, parses it and completes it as the device would, with status ok. */
static void pop_parse_complete(struct guest *g, struct fixture *f, enum blk_request_error expect,
			       uint32_t written)
{
	uint16_t used = g->vq.used_idx;
	int ret = virtq_pop(&g->vq, &f->chain);

	TEST_ASSERT(ret == 1, "virtq_pop() = %d (%s)", ret, virtq_strerror(ret));
	ASSERT_PARSE(f, expect);
	TEST_ASSERT(f->req.status, "no status byte");
	*f->req.status = expect == BLK_E_OK ? VIRTIO_BLK_S_OK : blk_request_status(expect);
	TEST_ASSERT_EQ(virtq_push(&g->vq, f->chain.head, written), 0);
	TEST_ASSERT_EQ(used_len(g, used), written);
}

static void test_virtq_in_and_get_id(void **state)
{
	struct fixture *f = *state;
	struct guest g;

	guest_init(&g);
	/* IN of 2 sectors into two buffers, status on its own. */
	put_header(gpa_ptr(&g, BUF_GPA, 16), VIRTIO_BLK_T_IN, 6);
	write_desc(&g, DESC_GPA, 0, BUF_GPA, 16, VIRTQ_DESC_F_NEXT, 3);
	write_desc(&g, DESC_GPA, 3, BUF_GPA + 0x1000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		   1);
	write_desc(&g, DESC_GPA, 1, BUF_GPA + 0x2000, 512, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE,
		   7);
	write_desc(&g, DESC_GPA, 7, BUF_GPA + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	make_avail(&g, 0);
	pop_parse_complete(&g, f, BLK_E_OK, 1025);
	TEST_ASSERT_EQ(f->req.type, VIRTIO_BLK_T_IN);
	TEST_ASSERT_EQ(f->req.sector, 6);
	TEST_ASSERT_EQ(f->req.data_num, 2);
	ASSERT_DATA(f, 0, gpa_ptr(&g, BUF_GPA + 0x1000, 512), 512);
	ASSERT_DATA(f, 1, gpa_ptr(&g, BUF_GPA + 0x2000, 512), 512);
	TEST_ASSERT_PTR_EQ(f->req.status, gpa_ptr(&g, BUF_GPA + 0x3000, 1));
	TEST_ASSERT_EQ(*gpa_ptr(&g, BUF_GPA + 0x3000, 1), VIRTIO_BLK_S_OK);

	/* GET_ID with the status at the end of the ID buffer (21 bytes). */
	put_header(gpa_ptr(&g, BUF_GPA + 0x100, 16), VIRTIO_BLK_T_GET_ID, 0);
	write_desc(&g, DESC_GPA, 2, BUF_GPA + 0x100, 16, VIRTQ_DESC_F_NEXT, 4);
	write_desc(&g, DESC_GPA, 4, BUF_GPA + 0x200, 21, VIRTQ_DESC_F_WRITE, 0);
	make_avail(&g, 2);
	pop_parse_complete(&g, f, BLK_E_OK, 21);
	TEST_ASSERT_EQ(f->req.type, VIRTIO_BLK_T_GET_ID);
	TEST_ASSERT_EQ(f->req.data_num, 1);
	ASSERT_DATA(f, 0, gpa_ptr(&g, BUF_GPA + 0x200, 20), 20);
	TEST_ASSERT_PTR_EQ(f->req.status, gpa_ptr(&g, BUF_GPA + 0x200 + 20, 1));

	/* A read past the end, completed with IOERR in the guest's status byte. */
	put_header(gpa_ptr(&g, BUF_GPA, 16), VIRTIO_BLK_T_IN, CAPACITY);
	make_avail(&g, 0);
	pop_parse_complete(&g, f, BLK_E_RANGE, 1);
	TEST_ASSERT_EQ(*gpa_ptr(&g, BUF_GPA + 0x3000, 1), VIRTIO_BLK_S_IOERR);
	free(g.ram);
}

static void test_virtq_indirect_out_split_header(void **state)
{
	struct fixture *f = *state;
	uint8_t header[16];
	struct guest g;

	guest_init(&g);
	/* An indirect table: 3 header bytes, then 13 more running into 1024 of data. */
	put_header(header, VIRTIO_BLK_T_OUT, CAPACITY - 2);
	memcpy(gpa_ptr(&g, BUF_GPA, 16), header, 16);
	write_desc(&g, TABLE_GPA, 0, BUF_GPA, 3, VIRTQ_DESC_F_NEXT, 1);
	write_desc(&g, TABLE_GPA, 1, BUF_GPA + 3, 13 + 1024, VIRTQ_DESC_F_NEXT, 2);
	write_desc(&g, TABLE_GPA, 2, BUF_GPA + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
	write_desc(&g, DESC_GPA, 5, TABLE_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
	make_avail(&g, 5);
	pop_parse_complete(&g, f, BLK_E_OK, 1);
	TEST_ASSERT_EQ(f->req.type, VIRTIO_BLK_T_OUT);
	TEST_ASSERT_EQ(f->req.sector, CAPACITY - 2);
	TEST_ASSERT_EQ(f->req.data_num, 1);
	ASSERT_DATA(f, 0, gpa_ptr(&g, BUF_GPA + 16, 1024), 1024);

	/* The same, read-only: refused without touching the data. */
	f->limits.readonly = true;
	make_avail(&g, 5);
	pop_parse_complete(&g, f, BLK_E_READONLY, 1);
	TEST_ASSERT_EQ(*gpa_ptr(&g, BUF_GPA + 0x3000, 1), VIRTIO_BLK_S_IOERR);
	free(g.ram);
}

/* ---------------------------------------------------------- strings ---- */

static void test_strerror_and_status(void **state)
{
	(void)state;
	for (int e = BLK_E_OK; e <= BLK_E_SEGMENTS; e++) {
		const char *s = blk_request_strerror(e);

		TEST_ASSERT(strcmp(s, "unknown block request error") != 0, "no text for %d", e);
		for (int o = BLK_E_OK; o < e; o++)
			TEST_ASSERT(strcmp(s, blk_request_strerror(o)) != 0, "%d and %d read alike",
				    o, e);
		TEST_ASSERT_EQ(blk_request_status(e),
			       e == BLK_E_UNSUPPORTED ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR);
	}
	TEST_ASSERT(strcmp(blk_request_strerror(BLK_E_SEGMENTS + 1),
			   "unknown block request error") == 0,
		    "text for an unknown value");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* hostile first */
		T(test_no_status),
		T(test_short_header),
		T(test_header_split_into_single_bytes),
		T(test_header_is_copied),
		T(test_status_byte_is_last_writable_byte),
		T(test_wrong_directions),
		T(test_length_not_sector_multiple),
		T(test_chain_over_4g),
		T(test_range),
		T(test_readonly),
		T(test_get_id_without_buffer),
		T(test_segments_not_negotiated),
		T(test_segments_bad_array),
		T(test_segments_bad_segment),
		T(test_unknown_types),
		/* then what must work */
		T(test_in),
		T(test_out),
		T(test_flush),
		T(test_get_id),
		T(test_discard_and_write_zeroes),
		T(test_segments_split_over_iovecs),
		T(test_virtq_in_and_get_id),
		T(test_virtq_indirect_out_split_header),
		T(test_strerror_and_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
