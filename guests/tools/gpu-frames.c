/*
 * gpu-frames: the guest side of tests/bench/display. Pushes full-screen
 * frames through the DRM/KMS device (virtio-gpu) as fast as the host takes
 * them and reports how many it pushed in how long.
 *
 *   gpu-frames [-d DEV] [-m WxH] [-n FRAMES] [-t SECONDS]
 *
 * Built statically on the build host (`cc -static -O2`), with only the
 * kernel's UAPI headers (libdrm-dev's copies): no libdrm at run time.
 *
 * 1. opens DEV (default /dev/dri/card0, waited for up to 30 s); the first
 *    opener is DRM master;
 * 2. picks the first connected connector, the mode WxH (default 1280x800;
 *    the connector's first mode when it has none of that size) and a CRTC
 *    its encoder can drive;
 * 3. creates an XRGB8888 dumb buffer of that size, ADDFB, maps it and
 *    SETCRTCs it (this takes the CRTC from the fbdev console);
 * 4. frame loop, for FRAMES frames or SECONDS seconds (default 5 s):
 *    rewrites every pixel (a pattern that moves by a row each frame) and
 *    calls DRM_IOCTL_MODE_DIRTYFB with one full-screen clip, which Linux's
 *    virtio_gpu turns into TRANSFER_TO_HOST_2D + RESOURCE_FLUSH;
 * 5. drains: Linux's virtio_gpu fences neither of those two commands for a
 *    dumb buffer that stays on the screen, so DIRTYFB returns once they
 *    are queued and up to a virtqueue's worth of frames may still be
 *    pending on the host when the loop ends. A host round trip that is
 *    fenced (RESOURCE_CREATE_2D of a 1x1 resource through the virtio_gpu
 *    ioctl, then DRM_IOCTL_VIRTGPU_WAIT on it) comes back only after the
 *    host has processed every command queued before it. The same drain
 *    runs before the first timed frame.
 *
 * Output (each a single line on stdout; every console byte costs VM exits):
 *   GPU-FRAMES-MODE WxH conn=ID crtc=ID drain=fence|none
 *   GPU-FRAMES-START                  (just before the first timed frame)
 *   GPU-FRAMES FRAMES=n SECONDS=s LOOP=s
 *     SECONDS: first frame to the end of the drain (CLOCK_MONOTONIC), what
 *     fps is computed from; LOOP: first frame to the last DIRTYFB's return
 *   GPU-FRAMES-ERROR what: why         (and exit status 1)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <libdrm/drm.h>
#include <libdrm/drm_mode.h>
#include <libdrm/virtgpu_drm.h>

#define MAX_IDS 32
#define MAX_MODES 256

/* virtio-gpu's VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM and gallium's PIPE_TEXTURE_2D */
#define VGPU_FORMAT_B8G8R8X8 2
#define VGPU_TARGET_2D 2

static void fail(const char *what, const char *fmt, ...)
{
	va_list ap;

	printf("GPU-FRAMES-ERROR %s: ", what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
	exit(1);
}

static int xioctl(int fd, unsigned long req, void *arg)
{
	int rc;

	do
		rc = ioctl(fd, req, arg);
	while (rc < 0 && (errno == EINTR || errno == EAGAIN));
	return rc;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t ptr(const void *p)
{
	return (uint64_t)(uintptr_t)p;
}

struct output {
	uint32_t conn, crtc;
	struct drm_mode_modeinfo mode;
};

/* A CRTC for encoder ENC_ID: the one it drives now, else the first it may. */
static uint32_t encoder_crtc(int fd, uint32_t enc_id, const uint32_t *crtcs, uint32_t ncrtcs)
{
	struct drm_mode_get_encoder enc;

	memset(&enc, 0, sizeof(enc));
	enc.encoder_id = enc_id;
	if (xioctl(fd, DRM_IOCTL_MODE_GETENCODER, &enc) < 0)
		return 0;
	if (enc.crtc_id)
		return enc.crtc_id;
	for (uint32_t i = 0; i < ncrtcs && i < 32; i++)
		if (enc.possible_crtcs & (1u << i))
			return crtcs[i];
	return 0;
}

/* The first connected connector with modes, a CRTC and the mode W x H. */
static void find_output(int fd, uint32_t w, uint32_t h, struct output *out)
{
	static uint32_t conns[MAX_IDS], crtcs[MAX_IDS], encs[MAX_IDS];
	static struct drm_mode_modeinfo modes[MAX_MODES];
	struct drm_mode_card_res res;

	memset(&res, 0, sizeof(res));
	if (xioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
		fail("kms", "GETRESOURCES: %s", strerror(errno));
	if (res.count_connectors > MAX_IDS || res.count_crtcs > MAX_IDS)
		fail("kms", "%u connectors, %u CRTCs", res.count_connectors, res.count_crtcs);
	res.count_fbs = 0;
	res.count_encoders = 0;
	res.connector_id_ptr = ptr(conns);
	res.crtc_id_ptr = ptr(crtcs);
	if (xioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res) < 0)
		fail("kms", "GETRESOURCES: %s", strerror(errno));

	for (uint32_t c = 0; c < res.count_connectors; c++) {
		struct drm_mode_get_connector gc;
		uint32_t crtc = 0, pick = 0;

		/* the first call probes and sizes, the second fills in */
		memset(&gc, 0, sizeof(gc));
		gc.connector_id = conns[c];
		if (xioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &gc) < 0)
			continue;
		if (gc.connection != 1 /* DRM_MODE_CONNECTED */ || gc.count_modes == 0)
			continue;
		if (gc.count_modes > MAX_MODES)
			gc.count_modes = MAX_MODES;
		if (gc.count_encoders > MAX_IDS)
			gc.count_encoders = MAX_IDS;
		gc.modes_ptr = ptr(modes);
		gc.encoders_ptr = ptr(encs);
		gc.count_props = 0;
		if (xioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &gc) < 0 || gc.count_modes == 0)
			continue;
		if (gc.encoder_id)
			crtc = encoder_crtc(fd, gc.encoder_id, crtcs, res.count_crtcs);
		for (uint32_t e = 0; !crtc && e < gc.count_encoders && e < MAX_IDS; e++)
			crtc = encoder_crtc(fd, encs[e], crtcs, res.count_crtcs);
		if (!crtc)
			continue;
		for (uint32_t m = 0; m < gc.count_modes && m < MAX_MODES; m++)
			if (modes[m].hdisplay == w && modes[m].vdisplay == h) {
				pick = m;
				break;
			}
		out->conn = conns[c];
		out->crtc = crtc;
		out->mode = modes[pick];
		return;
	}
	fail("kms", "no connected connector with a mode and a CRTC");
}

/*
 * Wait until the host has processed every command queued so far (see the
 * header comment). 0 when done, -1 when this is no virtio_gpu or the ioctls
 * are refused (then there is no drain).
 */
static int drain(int fd)
{
	struct drm_virtgpu_resource_create rc;
	struct drm_virtgpu_3d_wait wait;
	struct drm_gem_close close_bo;
	int ret;

	memset(&rc, 0, sizeof(rc));
	rc.target = VGPU_TARGET_2D;
	rc.format = VGPU_FORMAT_B8G8R8X8;
	rc.width = 1;
	rc.height = 1;
	rc.depth = 1;
	rc.array_size = 1;
	rc.size = 4096;
	rc.stride = 4;
	if (xioctl(fd, DRM_IOCTL_VIRTGPU_RESOURCE_CREATE, &rc) < 0)
		return -1;
	memset(&wait, 0, sizeof(wait));
	wait.handle = rc.bo_handle;
	ret = xioctl(fd, DRM_IOCTL_VIRTGPU_WAIT, &wait);
	/* the ioctl waits at most 15 s a call; EBUSY means it timed out */
	while (ret < 0 && errno == EBUSY)
		ret = xioctl(fd, DRM_IOCTL_VIRTGPU_WAIT, &wait);
	memset(&close_bo, 0, sizeof(close_bo));
	close_bo.handle = rc.bo_handle;
	xioctl(fd, DRM_IOCTL_GEM_CLOSE, &close_bo);
	return ret < 0 ? -1 : 0;
}

/* Every pixel of frame N: horizontal colour bands that move down a row per frame. */
static void paint(uint32_t *px, uint32_t w, uint32_t h, uint32_t pitch, uint32_t n)
{
	for (uint32_t y = 0; y < h; y++) {
		uint32_t *row = (uint32_t *)((char *)px + (size_t)y * pitch);
		uint32_t v = ((y + n) * 0x00030507u) & 0x00ffffffu;

		for (uint32_t x = 0; x < w; x++)
			row[x] = v ^ (x >> 4);
	}
}

static unsigned long number(const char *opt, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end)
		fail("usage", "%s wants a number, not '%s'", opt, s);
	return v;
}

int main(int argc, char **argv)
{
	const char *dev = "/dev/dri/card0";
	uint32_t want_w = 1280, want_h = 800, frames = 0, n;
	double seconds = 5, t0, t_loop, t_end;
	struct drm_mode_create_dumb cd;
	struct drm_mode_fb_cmd fb;
	struct drm_mode_map_dumb md;
	struct drm_mode_crtc sc;
	struct drm_mode_fb_dirty_cmd dirty;
	struct drm_clip_rect clip;
	struct output out;
	uint32_t *px;
	int opt, fd = -1, have_drain;

	while ((opt = getopt(argc, argv, "d:m:n:t:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			if (sscanf(optarg, "%ux%u", &want_w, &want_h) != 2 || !want_w || !want_h)
				fail("usage", "-m wants WxH, not '%s'", optarg);
			break;
		case 'n':
			frames = (uint32_t)number("-n", optarg);
			break;
		case 't':
			seconds = (double)number("-t", optarg);
			break;
		default:
			fail("usage", "gpu-frames [-d DEV] [-m WxH] [-n FRAMES] [-t SECONDS]");
		}
	}
	if (!frames && seconds <= 0)
		fail("usage", "-n or -t must be positive");

	for (int i = 0; i < 150 && fd < 0; i++) {
		fd = open(dev, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			usleep(200 * 1000);
	}
	if (fd < 0)
		fail("open", "%s: %s", dev, strerror(errno));
	find_output(fd, want_w, want_h, &out);

	memset(&cd, 0, sizeof(cd));
	cd.width = out.mode.hdisplay;
	cd.height = out.mode.vdisplay;
	cd.bpp = 32;
	if (xioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &cd) < 0)
		fail("kms", "CREATE_DUMB %ux%u: %s", cd.width, cd.height, strerror(errno));
	memset(&fb, 0, sizeof(fb));
	fb.width = cd.width;
	fb.height = cd.height;
	fb.pitch = cd.pitch;
	fb.bpp = 32;
	fb.depth = 24; /* XRGB8888 */
	fb.handle = cd.handle;
	if (xioctl(fd, DRM_IOCTL_MODE_ADDFB, &fb) < 0)
		fail("kms", "ADDFB: %s", strerror(errno));
	memset(&md, 0, sizeof(md));
	md.handle = cd.handle;
	if (xioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) < 0)
		fail("kms", "MAP_DUMB: %s", strerror(errno));
	px = mmap(NULL, cd.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)md.offset);
	if (px == MAP_FAILED)
		fail("kms", "mmap of the dumb buffer: %s", strerror(errno));
	paint(px, cd.width, cd.height, cd.pitch, 0);

	memset(&sc, 0, sizeof(sc));
	sc.crtc_id = out.crtc;
	sc.fb_id = fb.fb_id;
	sc.set_connectors_ptr = ptr(&out.conn);
	sc.count_connectors = 1;
	sc.mode = out.mode;
	sc.mode_valid = 1;
	if (xioctl(fd, DRM_IOCTL_MODE_SETCRTC, &sc) < 0)
		fail("kms", "SETCRTC: %s", strerror(errno));

	have_drain = drain(fd) == 0;
	printf("GPU-FRAMES-MODE %ux%u conn=%u crtc=%u drain=%s\n", cd.width, cd.height, out.conn,
	       out.crtc, have_drain ? "fence" : "none");
	printf("GPU-FRAMES-START\n");
	fflush(stdout);

	memset(&clip, 0, sizeof(clip));
	clip.x2 = (unsigned short)cd.width;
	clip.y2 = (unsigned short)cd.height;
	memset(&dirty, 0, sizeof(dirty));
	dirty.fb_id = fb.fb_id;
	dirty.num_clips = 1;
	dirty.clips_ptr = ptr(&clip);

	t0 = now();
	t_loop = t0;
	for (n = 0; frames ? n < frames : t_loop - t0 < seconds; n++) {
		paint(px, cd.width, cd.height, cd.pitch, n + 1);
		if (xioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &dirty) < 0)
			fail("kms", "DIRTYFB (frame %u): %s", n + 1, strerror(errno));
		t_loop = now();
	}
	if (have_drain && drain(fd) < 0)
		fail("drain", "VIRTGPU_WAIT: %s", strerror(errno));
	t_end = now();
	printf("GPU-FRAMES FRAMES=%u SECONDS=%.4f LOOP=%.4f\n", n, t_end - t0, t_loop - t0);
	fflush(stdout);
	return 0;
}
