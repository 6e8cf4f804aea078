/*
 * main() for the fuzz targets when they are built without libFuzzer
 * (any compiler, no -fsanitize=fuzzer): runs every file named on the command
 * line, and every file in every directory named there (not recursively,
 * skipping names that start with '.'), through LLVMFuzzerTestOneInput()
 * once. A target signals a failure by crashing or aborting, as under
 * libFuzzer; this program exits non-zero when a file cannot be read or when
 * no input was run at all.
 *
 * Arguments starting with '-' are ignored, so a libFuzzer command line such
 * as "-runs=0 corpus/boot" works here too.
 *
 * Not compiled into the libFuzzer builds, which define HUTCH_LIBFUZZER.
 */
#ifndef HUTCH_LIBFUZZER

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *prog = "fuzz";

/* Reads a whole file into a block of exactly its size (at least 1 byte). */
static int read_file(const char *path, uint8_t **data, size_t *size)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL, *exact;
	size_t len = 0, cap = 0;

	if (!f)
		return errno ? -errno : -EIO;
	for (;;) {
		size_t got;

		if (len == cap) {
			uint8_t *bigger;

			cap = cap ? 2 * cap : 4096;
			bigger = realloc(buf, cap);
			if (!bigger) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = bigger;
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		int err = errno ? -errno : -EIO;

		free(buf);
		fclose(f);
		return err;
	}
	fclose(f);
	/* An exactly sized copy, so that a target reading past the input is
	 * caught when this runs under AddressSanitizer. */
	exact = malloc(len ? len : 1);
	if (!exact) {
		free(buf);
		return -ENOMEM;
	}
	memcpy(exact, buf, len);
	free(buf);
	*data = exact;
	*size = len;
	return 0;
}

static int run_file(const char *path, unsigned *count)
{
	uint8_t *data = NULL;
	size_t size = 0;
	int ret = read_file(path, &data, &size);

	if (ret) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(-ret));
		return 1;
	}
	fprintf(stderr, "%s: running %s (%zu bytes)\n", prog, path, size);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	(*count)++;
	return 0;
}

static int run_dir(const char *dir, unsigned *count)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	int failed = 0;

	if (n < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		size_t len = strlen(dir) + strlen(name) + 2;
		char *path = malloc(len);
		struct stat st;

		if (name[0] == '.' || !path) {
			failed |= !path;
			free(path);
			free(names[i]);
			continue;
		}
		snprintf(path, len, "%s/%s", dir, name);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
			failed |= run_file(path, count);
		free(path);
		free(names[i]);
	}
	free(names);
	return failed;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	int failed = 0;

	if (argc > 0 && argv[0][0])
		prog = argv[0];
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (argv[i][0] == '-')
			continue;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[i], strerror(errno));
			failed = 1;
		} else if (S_ISDIR(st.st_mode)) {
			failed |= run_dir(argv[i], &count);
		} else {
			failed |= run_file(argv[i], &count);
		}
	}
	if (count == 0) {
		fprintf(stderr, "usage: %s FILE|DIR...: runs each input through the fuzz target once\n",
			prog);
		return 1;
	}
	fprintf(stderr, "%s: ran %u inputs%s\n", prog, count, failed ? ", some unreadable" : "");
	return failed;
}

#else
typedef int hutch_standalone_main_unused; /* keeps the translation unit non-empty */
#endif
