// An AudioWorklet that hands the page every block of its input (mono).
class Capture extends AudioWorkletProcessor {
  process(inputs) {
    const x = inputs[0] && inputs[0][0];
    if (x) this.port.postMessage(x.slice(0));
    return true;
  }
}
registerProcessor("capture", Capture);
