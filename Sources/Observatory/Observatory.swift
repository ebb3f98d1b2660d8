// Observatory: what a run shows. TensorBoard event files for live dashboards, and a
// self-contained HTML report (`Report`) drawn as SVG text by this module: line charts of the
// per-epoch metrics (`LineChart`), energy quiver plots of the probe samples (`QuiverPlot`),
// read from the run directory by `RunRecords`. No plotting library, browser or network is
// needed to make them, so a cluster node can write the report next to its checkpoints.
