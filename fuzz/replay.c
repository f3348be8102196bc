/*
 * replay.c — runs a fuzz harness over every file of a corpus directory.
 *
 * Linked with a fuzz_X.c instead of libFuzzer, it lets every build (the
 * normal one and the ASan+UBSan one) replay the corpus in `make test`, so
 * that inputs which once crashed keep being tried. Usage: replay_X DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 1 << 16;
    size_t len = 0;
    uint8_t *data = malloc(cap);
    if (!data)
        abort();
    for (;;) {
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (len < cap)
            break;
        cap *= 2;
        data = realloc(data, cap);
        if (!data)
            abort();
    }
    fclose(f);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0;
    for (int i = 1; i < argc; i++) {
        DIR *dir = opendir(argv[i]);
        if (!dir) {
            perror(argv[i]);
            return 1;
        }
        struct dirent *entry;
        while ((entry = readdir(dir)) != NULL) {
            if (entry->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], entry->d_name);
            if (replay_file(path) != 0) {
                closedir(dir);
                return 1;
            }
            files++;
        }
        closedir(dir);
    }
    printf("replayed %d inputs\n", files);
    return files > 0 ? 0 : 1;
}
