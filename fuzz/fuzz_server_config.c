/*
 * fuzz_server_config.c — the server's YAML configuration file.
 */
#include <stddef.h>
#include <stdint.h>

#include "server/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char errbuf[256];
    pal_config *config = pal_config_new();
    if (pal_config__load_text(config, "fuzz.yaml", (const char *)data, size, errbuf,
                              sizeof(errbuf)) == PAL_OK)
        (void)pal_config_validate(config, errbuf, sizeof(errbuf));
    pal_config_free(config);
    return 0;
}
