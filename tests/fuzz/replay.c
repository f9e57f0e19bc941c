/*
 * replay.c - runs a fuzz target's LLVMFuzzerTestOneInput over every file
 * of the corpus directories (or files) given, without libFuzzer.  Linked
 * with the ASan+UBSan library, it lets `make test` replay the kept corpora
 * without a second, clang-built copy of the code; `make fuzz` still builds
 * the real libFuzzer targets for fuzzing.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* run_file - one input; 0, or -1 when it cannot be read. */
static int
run_file(const char *path)
{
	FILE		*f = fopen(path, "rb");
	unsigned char	*data = NULL;
	size_t		 len = 0, cap = 0, n;

	if (f == NULL) {
		perror(path);
		return -1;
	}
	for (;;) {
		if (len == cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			if ((data = realloc(data, cap)) == NULL) {
				perror("realloc");
				exit(1);
			}
		}
		if ((n = fread(data + len, 1, cap - len, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		perror(path);
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, len);
	free(data);
	return 0;
}

int
main(int argc, char **argv)
{
	int	 bad = 0;

	for (int i = 1; i < argc; i++) {
		struct stat	 st;
		struct dirent	**ents;
		int		 n;

		if (stat(argv[i], &st) == -1) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			bad |= run_file(argv[i]) == -1;
			continue;
		}
		if ((n = scandir(argv[i], &ents, NULL, alphasort)) == -1) {
			perror(argv[i]);
			bad = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char	*path;

			if (ents[k]->d_name[0] != '.' &&
			    asprintf(&path, "%s/%s", argv[i],
			    ents[k]->d_name) != -1) {
				bad |= run_file(path) == -1;
				free(path);
			}
			free(ents[k]);
		}
		free(ents);
	}
	return bad;
}
