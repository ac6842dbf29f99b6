"""Infrastructure every stage uses: atomic writes, the restricted unpickler, job logs, the zlib preload."""
