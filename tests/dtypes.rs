//! bf16 on models with integer inputs and integer buffers: a traced Hugging
//! Face BERT (int64 position_ids / token_type_ids buffers, float32 mask
//! arithmetic traced into the graph) and the scripted TransformerEncoder.
//! Every bf16 variant must run and stay within the suite's bf16 tolerance;
//! speed is the benchmarks' business (bf16 is slow on hosts without
//! AVX512_BF16/AMX, but it must still be correct).
mod common;

use common::{fixture, run_results, trial};
use serde_json::Value;

fn run_configs(model: &str, labels: &[&str]) -> Value {
    let path = fixture(model);
    let mut args = vec![
        path.to_str().unwrap(),
        "--suite",
        "nlp",
        "--batch-size",
        "1",
    ];
    args.extend(["--min-time", "0", "--min-iters", "2", "--quiet"]);
    for label in labels {
        args.extend(["--config", label]);
    }
    run_results(&args, &[])
}

/// One config on `model` with the generic suite's `shapes`, its executed
/// graph recorded; the results.
fn run_recording_graph(model: &str, shapes: &[&str], label: &str) -> Value {
    let path = fixture(model);
    let mut args = vec![path.to_str().unwrap(), "--suite", "generic"];
    for shape in shapes {
        args.extend(["--input-shape", shape]);
    }
    args.extend([
        "--min-time",
        "0",
        "--min-iters",
        "2",
        "--quiet",
        "--record-graphs",
        "--config",
        label,
    ]);
    run_results(&args, &[])
}

fn assert_all_ran_accurately(results: &Value, labels: &[&str]) {
    for label in labels {
        let trial = trial(results, label);
        assert_eq!(trial["status"], "ok", "{trial}");
        assert_eq!(trial["accurate"], true, "{trial}");
        assert_eq!(trial["accuracy"]["non_finite"], 0, "{trial}");
    }
}

#[test]
fn every_bf16_variant_runs_on_a_traced_hf_bert() {
    let labels = [
        "stock/O1/bf16/t1/glibc",
        "stock/O1+prepack/bf16/t1/glibc",
        "ipex/O1+prepack/bf16/t1/glibc",
        "stock/O1/bf16-autocast/t1/glibc",
        "ipex/O1+prepack/bf16-autocast/t1/glibc",
    ];
    let results = run_configs("hf_bert.pt", &labels);
    assert_all_ran_accurately(&results, &labels);
    // The int64 buffers stayed int64: the embedding lookups ran.
    let bf16 = &results["trials"][1];
    assert!(bf16["steps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["pass"] == "bf16_constants" && s["changed"] == true));
}

#[test]
fn bf16_runs_on_the_scripted_transformer_encoder() {
    let labels = ["stock/O1/bf16/t1/glibc", "stock/O1/bf16-autocast/t1/glibc"];
    let results = run_configs("encoder.pt", &labels);
    assert_all_ran_accurately(&results, &labels);
}

#[test]
fn bf16_autocast_folds_bf16_weights_into_the_graph() {
    let results = run_recording_graph(
        "cnn.pt",
        &["1x3x32x32"],
        "stock/O1+fold/bf16-autocast/t1/glibc",
    );
    let trial = &results["trials"][1];
    assert_eq!(trial["status"], "ok", "{trial}");
    let graph = trial["executed_graph"].as_str().unwrap();
    assert!(
        graph.contains("BFloat16(32, 3, 3, 3"),
        "the first conv's weight is a bf16 constant: {graph}"
    );
}

/// bf16 under autocast is IPEX's recipe graph: bf16 weights, a cast only
/// where autocast makes one, the call under CPU autocast. The JIT autocast
/// pass it replaced wrote `_autocast_to_*` casts between the ops, and IPEX's
/// linear + add fusion (and its fused attention) no longer matched.
#[test]
fn ipex_bf16_autocast_keeps_ipex_fusions_on_a_traced_hf_bert() {
    let label = "ipex/O1+prepack/bf16-autocast/t1/glibc";
    let results = run_recording_graph("hf_bert.pt", &["1x32:int1000", "1x32:int2"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"].as_str().unwrap();
    assert!(!graph.contains("_autocast_to_"), "{graph}");
    assert!(
        graph.contains("linear_add_run"),
        "IPEX's linear + add: {graph}"
    );
}

/// On a CNN every convolution hands the next one bf16: the image is cast
/// once, and nothing else is.
#[test]
fn bf16_autocast_casts_a_cnn_once() {
    let label = "ipex/O1+fold+prepack/bf16-autocast/t1/glibc";
    let results = run_recording_graph("cnn.pt", &["2x3x64x64"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"].as_str().unwrap();
    assert_eq!(graph.matches("aten::to(").count(), 1, "{graph}");
}

/// IPEX's static int8 is the quantize/dequantize graph its own recipe
/// makes, for its fusion passes; with libtorch's quantized ops under IPEX
/// the HF BERT failed ("Could not run 'aten::tanh.out' with arguments from
/// the 'QuantizedCPU' backend"). The pairs sit where IPEX's recipe puts
/// them: the residual adds read fp32 (as observed by libtorch they were
/// int8 adds, `quantized::add`, outside oneDNN's fused kernels).
#[test]
fn ipex_static_int8_runs_on_a_traced_hf_bert() {
    let label = "ipex/O1+prepack/int8-static/t1/glibc";
    let results = run_recording_graph("hf_bert.pt", &["1x32:int1000", "1x32:int2"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        graph.contains("quantize_per_tensor") || graph.contains("LlgaFusionGroup"),
        "an int8 graph: {graph}"
    );
    assert!(!graph.contains("quantized::add"), "{graph}");
}

/// A CNN's classifier (pool -> flatten -> linear) runs as an int8 linear
/// inside oneDNN Graph, as in IPEX's recipe. libtorch requantizes the pooled
/// tensor with qparams read at run time and flattens it in int8; oneDNN
/// Graph then left the linear in fp32, its weight dequantized at every call.
#[test]
fn ipex_static_int8_takes_a_cnn_classifier_into_onednn_graph() {
    let label = "ipex/O1+prepack/int8-static/t1/glibc";
    let results = run_recording_graph("cnn.pt", &["2x3x64x64"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"].as_str().unwrap();
    // The executed graph first, then each fusion group's body ("with ...").
    let top_level = graph.split("\nwith ").next().unwrap();
    // Requantized with constant qparams on every host.
    assert!(!top_level.contains("q_scale"), "{top_level}");
    // Where IPEX's oneDNN Graph fuses int8 (it needs the ISA for it), the
    // classifier is one of its partitions.
    if top_level.contains("LlgaFusionGroup") {
        assert!(
            !top_level.contains("aten::linear"),
            "the classifier left outside oneDNN Graph: {top_level}"
        );
    }
}

/// A traced HF DistilBERT, as IPEX's own recipes run it: bf16 under
/// autocast and static int8. Its masked_fill of bf16 scores with
/// finfo(float32).min failed ("value cannot be converted to type
/// at::BFloat16 without overflow"), and its query scaled before the score
/// matmul left IPEX's llga::Select outside oneDNN Graph's attention
/// partition, where nothing runs it ("Could not run 'llga::Select'").
#[test]
fn ipex_bf16_autocast_and_static_int8_run_on_a_traced_hf_distilbert() {
    let labels = [
        "stock/O1/bf16-autocast/t1/glibc",
        "ipex/O1+prepack/bf16-autocast/t1/glibc",
    ];
    let results = run_configs("hf_distilbert.pt", &labels);
    assert_all_ran_accurately(&results, &labels);
    let label = "ipex/O1+prepack/int8-static/t1/glibc";
    let results = run_recording_graph("hf_distilbert.pt", &["1x32:int1000", "1x32:int2"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"].as_str().unwrap();
    let top_level = graph.split("\nwith ").next().unwrap();
    assert!(!top_level.contains("llga::Select"), "{top_level}");
}

/// torchvision's ConvNeXt (tiny width), as IPEX's int8 recipe places its
/// quantization: the depthwise conv quantizes its input after the
/// LayerNorm2d permute, and the residual adds read fp32 (their other
/// operand is the layer-scale mul, not a conv). libtorch's placement
/// dequantized the block input for the conv and the add alike, which kept
/// the first conv of every stage out of oneDNN Graph and dequantized every
/// residual (0.82x of IPEX's Python int8 on ConvNeXt-Tiny).
#[test]
fn ipex_static_int8_places_convnext_quantization_like_ipex() {
    let label = "ipex/O1+prepack/int8-static/t1/glibc";
    let results = run_recording_graph("tv_convnext.pt", &["1x3x64x64"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"].as_str().unwrap();
    let top_level = graph.split("\nwith ").next().unwrap();
    if top_level.contains("LlgaFusionGroup") {
        assert!(
            !top_level.contains("aten::conv2d") && !top_level.contains("aten::_convolution"),
            "a convolution left outside oneDNN Graph: {top_level}"
        );
        // The classifier's average pool reads one; the residuals none.
        let dequantizes = top_level.matches("aten::dequantize").count();
        assert!(dequantizes <= 1, "{dequantizes} dequantizes: {top_level}");
    }
}

/// Signed activations (`+s8`): static int8 with symmetric qint8
/// activations runs through IPEX's int8 kernels on the traced HF BERT,
/// accurately; the graph quantizes activations to qint8. Stock's
/// libtorch int8 ops take unsigned activations only, so `stock/...+s8` is
/// not a coherent config and is skipped with that reason.
#[test]
fn signed_activations_run_through_ipex_int8() {
    let label = "ipex/O1+prepack/int8-static+s8/t1/glibc";
    let results = run_recording_graph("hf_bert.pt", &["1x32:int1000", "1x32:int2"], label);
    assert_all_ran_accurately(&results, &[label]);
    let graph = trial(&results, label)["executed_graph"].as_str().unwrap();
    // The observers' dtype constants: torch's ScalarType of qint8 is 12
    // (quint8, the unsigned default, is 13).
    let dtypes: Vec<&str> = graph
        .lines()
        .filter(|l| l.contains("_scalar_type_0 : int = prim::Constant"))
        .collect();
    assert!(
        !dtypes.is_empty() && dtypes.iter().all(|l| l.contains("[value=12]")),
        "activations quantized to qint8: {dtypes:?}"
    );

    let stock = "stock/O1+prepack/int8-static+s8/t1/glibc";
    let results = run_configs("hf_bert.pt", &[stock]);
    let skipped = results["skipped"].as_array().unwrap();
    assert!(
        skipped
            .iter()
            .any(|s| s["label"] == stock && s["reason"].as_str().unwrap().contains("coherent")),
        "{skipped:?}"
    );
}
