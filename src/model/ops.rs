//! Op kinds grouped by what the rules care about.

/// (group, op kinds in that group). A graph may hold the same layer under
/// several spellings: scripted code calls `aten::conv2d`/`aten::linear`,
/// traced code records `aten::_convolution`, frozen+prepacked graphs hold
/// `prim::mkldnn_convolution`, IPEX rewrites to its own ops.
pub const OP_GROUPS: &[(&str, &[&str])] = &[
    (
        "conv",
        &[
            "aten::_convolution",
            "aten::conv1d",
            "aten::conv2d",
            "aten::conv3d",
            "aten::conv_transpose1d",
            "aten::conv_transpose2d",
            "aten::conv_transpose3d",
            "aten::mkldnn_convolution",
            "prim::mkldnn_convolution",
        ],
    ),
    ("linear", &["aten::linear", "aten::addmm"]),
    (
        "matmul",
        &["aten::matmul", "aten::mm", "aten::bmm", "aten::baddbmm"],
    ),
    (
        "batch_norm",
        &["aten::batch_norm", "aten::_batch_norm_impl_index"],
    ),
    ("layer_norm", &["aten::layer_norm"]),
    ("embedding", &["aten::embedding"]),
    (
        "embedding_bag",
        &["aten::embedding_bag", "aten::_embedding_bag"],
    ),
    (
        "rnn",
        &[
            "aten::lstm",
            "aten::gru",
            "aten::rnn_tanh",
            "aten::rnn_relu",
            "aten::lstm_cell",
            "aten::gru_cell",
        ],
    ),
    (
        "attention",
        &[
            "aten::_native_multi_head_attention",
            "aten::scaled_dot_product_attention",
            "aten::_transformer_encoder_layer_fwd",
            "aten::multi_head_attention_forward",
        ],
    ),
    ("softmax", &["aten::softmax", "aten::_softmax"]),
    ("dropout", &["aten::dropout", "aten::feature_dropout"]),
    (
        "quantized",
        &[
            "quantized::linear_dynamic",
            "quantized::linear",
            "quantized::conv2d",
            "aten::quantize_per_tensor",
        ],
    ),
];

/// Every group name, IPEX's included.
pub fn group_names() -> impl Iterator<Item = &'static str> {
    OP_GROUPS
        .iter()
        .map(|(g, _)| *g)
        .chain(std::iter::once("ipex"))
}

/// The group an op kind belongs to, if any. IPEX's own ops form the `ipex` group.
pub fn op_group(kind: &str) -> Option<&'static str> {
    if kind.starts_with("ipex::")
        || kind.starts_with("torch_ipex::")
        || kind.starts_with("ipex_prepack::")
    {
        return Some("ipex");
    }
    OP_GROUPS
        .iter()
        .find(|(_, kinds)| kinds.contains(&kind))
        .map(|(group, _)| *group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_spellings_of_the_same_layer() {
        assert_eq!(op_group("aten::_convolution"), Some("conv"));
        assert_eq!(op_group("aten::conv2d"), Some("conv"));
        assert_eq!(op_group("aten::addmm"), Some("linear"));
        assert_eq!(op_group("aten::embedding_bag"), Some("embedding_bag"));
        assert_eq!(op_group("torch_ipex::convolution_forward"), Some("ipex"));
        assert_eq!(op_group("aten::relu"), None);
    }

    #[test]
    fn no_op_kind_is_in_two_groups() {
        let mut seen = std::collections::HashSet::new();
        for (_, kinds) in OP_GROUPS {
            for kind in *kinds {
                assert!(seen.insert(kind), "{kind} listed twice");
            }
        }
    }
}
