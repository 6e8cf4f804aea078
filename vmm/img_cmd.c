/* `hutch img create`, `info`, `check` and `resize`. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "devices/block/image.h"
#include "devices/block/qcow2.h"
#include "vmm/img.h"
#include "vmm/json.h"

int img_open(struct image *img, const char *path, enum image_format fmt, bool readonly)
{
	char err[512];
	int r = image_open(img, path, fmt, readonly, err, sizeof(err));

	if (r) {
		img_error("%s: %s", path, err);
		return -1;
	}
	return 0;
}

/* img_open() read-only, leaving the backing file closed (it need not exist). */
static int img_open_alone(struct image *img, const char *path, enum image_format fmt)
{
	char err[512];
	int r = image_open_alone(img, path, fmt, err, sizeof(err));

	if (r) {
		img_error("%s: %s", path, err);
		return -1;
	}
	return 0;
}

bool img_all_zero(const uint8_t *buf, size_t len)
{
	return !len || (!buf[0] && !memcmp(buf, buf + 1, len - 1));
}

int img_read(struct image *img, void *buf, size_t len, uint64_t offset)
{
	struct iovec iov = { .iov_base = buf, .iov_len = len };

	return image_preadv(img, &iov, 1, offset);
}

int img_write(struct image *img, const void *buf, size_t len, uint64_t offset)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };

	return image_pwritev(img, &iov, 1, offset);
}

uint64_t img_round_up(uint64_t v, uint64_t align)
{
	return (v + align - 1) / align * align;
}

/* A new sparse raw file of size bytes; O_EXCL keeps an existing file safe. */
static int img_create_raw(const char *path, uint64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		img_error("%s: %s", path, errno == EEXIST ? "exists" : strerror(errno));
		return IMG_EXIT_USAGE;
	}
	if (size > INT64_MAX || ftruncate(fd, (off_t)size) < 0) {
		int e = size > INT64_MAX ? EFBIG : errno;

		img_error("%s: cannot set the size: %s", path, strerror(e));
		close(fd);
		unlink(path);
		/* a size no file can have is the user's; the rest, the system's */
		return e == EFBIG || e == EINVAL ? IMG_EXIT_USAGE : IMG_EXIT_FAIL;
	}
	if (close(fd) < 0) {
		img_error("%s: %s", path, strerror(errno));
		unlink(path);
		return IMG_EXIT_FAIL;
	}
	return IMG_EXIT_OK;
}

int img_cmd_create(const struct img_args *a)
{
	unsigned bits = a->cluster_bits ? a->cluster_bits : QCOW2_DEFAULT_CLUSTER_BITS;
	struct image img;
	char err[512], human[32];
	struct stat st;
	int r;

	if (lstat(a->file, &st) == 0) {
		img_error("%s: exists (remove it first to replace it)", a->file);
		return IMG_EXIT_USAGE;
	}
	if (a->fmt == IMAGE_FORMAT_RAW) {
		r = img_create_raw(a->file, a->size);
	} else {
		r = qcow2_create(a->file, a->has_size ? a->size : 0, bits, a->backing,
				 a->backing_fmt == IMAGE_FORMAT_AUTO
					 ? NULL
					 : image_format_name(a->backing_fmt),
				 err, sizeof(err));
		if (r)
			img_error("%s: %s", a->file, r == -EEXIST ? "exists" : err);
		r = !r ? IMG_EXIT_OK : r == -EIO || r == -ENOSPC ? IMG_EXIT_FAIL : IMG_EXIT_USAGE;
	}
	if (r != IMG_EXIT_OK)
		return r;
	/* open what was written: proof that it is usable, and the size -b chose */
	if (img_open(&img, a->file, a->fmt, true))
		return IMG_EXIT_FAIL;
	img_format_size(img.size, human, sizeof(human));
	printf("Created %s: %s, %s (%" PRIu64 " bytes)%s%s\n", a->file,
	       image_format_name(img.format), human, img.size, a->backing ? ", backing file " : "",
	       a->backing ? a->backing : "");
	image_close(&img);
	return IMG_EXIT_OK;
}

/* What info shows of one image. */
struct img_facts {
	const char *path;
	enum image_format format;
	uint64_t size, disk_size;
	bool is_qcow2;
	struct qcow2_info q;
	char backing_path[4096]; /* q.backing_file as opened: relative to path's directory */
};

/* alone: without opening the backing file (else the whole chain must open). */
static int img_gather(struct img_facts *f, const char *path, enum image_format fmt, bool alone)
{
	struct image img;
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (alone ? img_open_alone(&img, path, fmt) : img_open(&img, path, fmt, true))
		return -1;
	f->path = path;
	f->format = img.format;
	f->size = img.size;
	if (fstat(img.raw.fd, &st) == 0)
		f->disk_size = (uint64_t)st.st_blocks * 512;
	f->is_qcow2 = img.format == IMAGE_FORMAT_QCOW2;
	if (f->is_qcow2) {
		qcow2_get_info(img.qcow2, &f->q);
		f->q.backing_file[sizeof(f->q.backing_file) - 1] = '\0';
		f->q.backing_format[sizeof(f->q.backing_format) - 1] = '\0';
		if (f->q.backing_file[0] &&
		    img_backing_path(path, f->q.backing_file, f->backing_path,
				     sizeof(f->backing_path))) {
			img_error("%s: the backing file name is too long", path);
			image_close(&img);
			return -1;
		}
	}
	image_close(&img);
	return 0;
}

static void img_print_facts(const struct img_facts *f)
{
	char human[32];

	printf("image: %s\n", f->path);
	printf("file format: %s\n", image_format_name(f->format));
	img_format_size(f->size, human, sizeof(human));
	printf("virtual size: %s (%" PRIu64 " bytes)\n", human, f->size);
	img_format_size(f->disk_size, human, sizeof(human));
	printf("disk size: %s\n", human);
	if (!f->is_qcow2)
		return;
	printf("cluster size: %u\n", 1u << f->q.cluster_bits);
	printf("qcow2 version: %" PRIu32 " (compat %s)\n", f->q.version,
	       f->q.version >= 3 ? "1.1" : "0.10");
	printf("refcount bits: %u\n", f->q.refcount_bits);
	if (f->q.backing_file[0]) {
		printf("backing file: %s", f->q.backing_file);
		if (strcmp(f->q.backing_file, f->backing_path))
			printf(" (actual path: %s)", f->backing_path);
		printf("\nbacking file format: %s\n",
		       f->q.backing_format[0] ? f->q.backing_format : "raw (not recorded)");
	}
	printf("dirty: %s\ncorrupt: %s\nlazy refcounts: %s\n", f->q.dirty ? "yes" : "no",
	       f->q.corrupt ? "yes" : "no", f->q.lazy_refcounts ? "yes" : "no");
	if (f->q.nb_snapshots)
		printf("internal snapshots: %" PRIu32 " (the image opens read-only)\n",
		       f->q.nb_snapshots);
}

/* One image as qemu-img info --output=json names things, so that tools can read both. */
static void img_json_facts(struct json_writer *w, const struct img_facts *f)
{
	json_write_raw(w, "{\"filename\":");
	json_write_cstr(w, f->path);
	json_write_raw(w, ",\"format\":");
	json_write_cstr(w, image_format_name(f->format));
	json_write_fmt(w, ",\"virtual-size\":%" PRIu64 ",\"actual-size\":%" PRIu64, f->size,
		       f->disk_size);
	if (f->is_qcow2) {
		json_write_fmt(w, ",\"cluster-size\":%u,\"dirty-flag\":%s", 1u << f->q.cluster_bits,
			       f->q.dirty ? "true" : "false");
		if (f->q.backing_file[0]) {
			json_write_raw(w, ",\"backing-filename\":");
			json_write_cstr(w, f->q.backing_file);
			json_write_raw(w, ",\"full-backing-filename\":");
			json_write_cstr(w, f->backing_path);
			json_write_raw(w, ",\"backing-filename-format\":");
			json_write_cstr(w, f->q.backing_format[0] ? f->q.backing_format : "raw");
		}
		json_write_fmt(w,
			       ",\"format-specific\":{\"type\":\"qcow2\",\"data\":{"
			       "\"compat\":\"%s\",\"refcount-bits\":%u,\"corrupt\":%s,"
			       "\"lazy-refcounts\":%s}}",
			       f->q.version >= 3 ? "1.1" : "0.10", f->q.refcount_bits,
			       f->q.corrupt ? "true" : "false",
			       f->q.lazy_refcounts ? "true" : "false");
	}
	json_write_raw(w, "}");
}

/* The next image down the chain, or false at its end; the format recorded, raw if none. */
static bool img_next_in_chain(const struct img_facts *f, enum image_format *fmt)
{
	if (!f->is_qcow2 || !f->q.backing_file[0])
		return false;
	if (image_format_parse(f->q.backing_format, fmt) || *fmt == IMAGE_FORMAT_AUTO)
		*fmt = IMAGE_FORMAT_RAW;
	return true;
}

int img_cmd_info(const struct img_args *a)
{
	/* a chain is at most QCOW2_MAX_BACKING_DEPTH deep: well under this per image */
	size_t size = (QCOW2_MAX_BACKING_DEPTH + 1) * 16384;
	struct img_facts *f = malloc(sizeof(*f));
	char *buf = a->json ? malloc(size) : NULL, *next = malloc(sizeof(f->backing_path));
	enum image_format fmt = IMAGE_FORMAT_AUTO;
	const char *path = a->file;
	struct json_writer w;
	int ret = IMG_EXIT_USAGE;

	if (!f || !next || (a->json && !buf)) {
		img_error("out of memory");
		goto out;
	}
	if (a->json) {
		json_writer_init(&w, buf, size);
		if (a->backing_chain)
			json_write_raw(&w, "[");
	}
	for (unsigned depth = 0;; depth++) {
		if (depth > QCOW2_MAX_BACKING_DEPTH) {
			img_error("%s: backing chain deeper than %d (a loop?)", a->file,
				  QCOW2_MAX_BACKING_DEPTH);
			goto out;
		}
		/* the chain checked as a whole first: missing files and loops */
		if (img_gather(f, path, fmt, !a->backing_chain))
			goto out;
		if (a->json) {
			if (depth)
				json_write_raw(&w, ",");
			img_json_facts(&w, f);
		} else {
			if (depth)
				putchar('\n');
			img_print_facts(f);
		}
		if (!a->backing_chain || !img_next_in_chain(f, &fmt))
			break;
		memcpy(next, f->backing_path, sizeof(f->backing_path));
		path = next;
	}
	if (a->json) {
		if (a->backing_chain)
			json_write_raw(&w, "]");
		if (w.overflow) {
			img_error("%s: too much to show as JSON", a->file);
			goto out;
		}
		puts(buf);
	}
	ret = IMG_EXIT_OK;
out:
	free(next);
	free(buf);
	free(f);
	return ret;
}

static void img_print_check(const struct qcow2_check_result *res, const struct qcow2_info *q)
{
	double total = res->total_clusters ? (double)res->total_clusters : 1.0;

	if (res->corruptions) {
		printf("%" PRIu64 " errors were found on the image.\n"
		       "Data may be corrupted, or further writes to the image may corrupt it.\n",
		       res->corruptions);
	}
	if (res->leaks) {
		printf("%s%" PRIu64 " leaked clusters were found on the image.\n"
		       "This means waste of disk space, but no harm to data.\n",
		       res->corruptions ? "\n" : "", res->leaks);
	}
	if (!res->corruptions && !res->leaks)
		printf("No errors were found on the image.\n");
	printf("%" PRIu64 "/%" PRIu64 " = %.2f%% allocated, %.2f%% compressed clusters\n",
	       res->allocated_clusters, res->total_clusters,
	       100.0 * (double)res->allocated_clusters / total,
	       100.0 * (double)res->compressed_clusters / total);
	printf("Image end offset: %" PRIu64 "\n", q->file_size);
}

int img_cmd_check(const struct img_args *a)
{
	struct qcow2_check_result res = { 0 };
	struct qcow2_info info;
	struct image img;
	char err[512];
	int r, ret;

	/* (repairs write: then the backing file is opened too, as for any writer) */
	if (a->repair ? img_open(&img, a->file, IMAGE_FORMAT_AUTO, false)
		      : img_open_alone(&img, a->file, IMAGE_FORMAT_AUTO))
		return IMG_EXIT_USAGE;
	if (img.format != IMAGE_FORMAT_QCOW2) {
		img_error("%s: a raw image has no metadata to check", a->file);
		image_close(&img);
		return IMG_EXIT_NO_CHECK;
	}
	r = qcow2_check(img.qcow2, a->repair, &res, err, sizeof(err));
	if (!r && a->repair && res.leaks_fixed) {
		printf("The following inconsistencies were found and repaired:\n\n"
		       "    %" PRIu64 " leaked clusters\n\n"
		       "Double checking the fixed image now...\n",
		       res.leaks_fixed);
		r = image_flush(&img);
		if (!r)
			r = qcow2_check(img.qcow2, false, &res, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "cannot flush: %s", strerror(-r));
	}
	if (r) {
		img_error("%s: the check could not finish: %s", a->file, err);
		image_close(&img);
		return IMG_EXIT_FAIL;
	}
	qcow2_get_info(img.qcow2, &info);
	img_print_check(&res, &info);
	ret = res.corruptions ? IMG_EXIT_USAGE : res.leaks ? IMG_EXIT_LEAKS : IMG_EXIT_OK;
	if (a->repair && (r = image_flush(&img))) {
		img_error("%s: cannot flush: %s", a->file, strerror(-r));
		ret = IMG_EXIT_FAIL;
	}
	image_close(&img);
	return ret;
}

/* The size resize asks for, or one error line and -1. */
static int img_resize_target(const struct img_args *a, uint64_t cur, uint64_t *target)
{
	switch (a->resize_mode) {
	case IMG_RESIZE_ABSOLUTE: *target = a->size; break;
	case IMG_RESIZE_GROW:
		if (a->size > UINT64_MAX - cur || cur + a->size > INT64_MAX) {
			img_error("%s: +%" PRIu64 " makes it too large", a->file, a->size);
			return -1;
		}
		*target = cur + a->size;
		break;
	case IMG_RESIZE_SHRINK:
		if (a->size >= cur) {
			img_error("%s: cannot shrink %" PRIu64 " bytes by %" PRIu64, a->file, cur,
				  a->size);
			return -1;
		}
		*target = cur - a->size;
		break;
	}
	if (*target > INT64_MAX) {
		img_error("%s: %" PRIu64 " bytes is too large", a->file, *target);
		return -1;
	}
	return 0;
}

int img_cmd_resize(const struct img_args *a)
{
	struct image img;
	uint64_t target = 0;
	int r;

	if (img_open(&img, a->file, IMAGE_FORMAT_AUTO, false))
		return IMG_EXIT_USAGE;
	if (img_resize_target(a, img.size, &target))
		goto err_usage;
	if (img.format == IMAGE_FORMAT_QCOW2) {
		if (target < img.size) {
			img_error("%s: qcow2 images only grow (%" PRIu64 " is below %" PRIu64 ")",
				  a->file, target, img.size);
			goto err_usage;
		}
		if (target % 512) {
			img_error("%s: a qcow2 image's size must be a multiple of 512", a->file);
			goto err_usage;
		}
		r = qcow2_resize(img.qcow2, target);
	} else {
		if (target < img.size && !a->shrink) {
			img_error("%s: %" PRIu64 " is below %" PRIu64 " bytes; --shrink drops the "
				  "end of a raw image",
				  a->file, target, img.size);
			goto err_usage;
		}
		r = ftruncate(img.raw.fd, (off_t)target) < 0 ? -errno : 0;
	}
	if (!r)
		r = image_flush(&img);
	image_close(&img);
	if (r) {
		img_error("%s: cannot resize: %s", a->file, strerror(-r));
		return IMG_EXIT_FAIL;
	}
	printf("Image resized.\n");
	return IMG_EXIT_OK;

err_usage:
	image_close(&img);
	return IMG_EXIT_USAGE;
}
