/* Model files and checkpoints (safetensors): fm_model_load and fm_checkpoint_load. */
#include "fathom.h"
#include "fuzz_support.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_write(data, size, ".safetensors");
    if (!path)
        return 0;
    fm_error err;
    fm_model *model = NULL;
    if (fm_model_load(path, &model, &err) == FM_OK) {
        /* What loads must save and load again. */
        const char *again = fuzz_path(".again.safetensors");
        if (fm_model_save(model, again, &err) == FM_OK) {
            fm_model *reloaded = NULL;
            if (fm_model_load(again, &reloaded, &err) != FM_OK)
                abort();
            fm_model_free(reloaded);
        }
        remove(again);
    }
    fm_model_free(model);
    fm_train_state *state = NULL;
    model = NULL;
    if (fm_checkpoint_load(path, &model, &state, &err) == FM_OK && (!model || !state))
        abort();
    fm_train_state_free(state);
    fm_model_free(model);
    return 0;
}
