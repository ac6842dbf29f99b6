"""Stage 3: token ids with whole-word ## markers (paddlenlp's ErnieTokenizer, or the compiled engine that
gives the same ids) -> <prefix>_ids.npy + <prefix>_idx.npz per shard, merged per dataset in the corpus's
document order; the token files' format (writer and reader: ``token_files``)."""
