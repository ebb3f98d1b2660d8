// Observatory: TensorBoard, plots, report
