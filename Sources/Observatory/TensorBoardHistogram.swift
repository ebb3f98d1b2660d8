/// Bins values into the buckets a TensorBoard `HistogramProto` holds.
///
/// Value `x` is counted in bucket `i` when `edges[i] <= x < edges[i+1]`. TensorBoard reads
/// bucket `i` as (limit[i-1], limit[i]], so each bucket's limit is its right edge; the two
/// conventions differ only for values exactly on an edge, which TensorBoard's display cannot
/// tell apart anyway. Values below `edges.first` or at/above `edges.last` go to overflow buckets
/// (limits `edges.first` and `Double.greatestFiniteMagnitude`), added only when needed, so every
/// value is counted and `num` stays the true count. TensorBoard replaces the outermost limits
/// with `min` and `max` when drawing, so the overflow limits never stretch the plot. DBL_MAX,
/// not +inf, is TensorFlow's own outer limit and keeps the file JSON-friendly for readers.
/// NaNs are left out everywhere (no bucket can hold them); min/max/sum are over the rest.
struct TensorBoardHistogram: Equatable {
    var bucketLimits: [Double] = []
    var counts: [Double] = []
    var min = 0.0, max = 0.0, sum = 0.0, sumSquares = 0.0

    init(values: [Double], edges: [Double]) {
        precondition(edges.count >= 2, "a histogram needs at least two edges, got \(edges.count)")
        precondition(edges.allSatisfy(\.isFinite) && zip(edges, edges.dropFirst()).allSatisfy { $0 < $1 },
                     "histogram edges must be finite and strictly increasing: \(edges)")
        var inner = [Double](repeating: 0, count: edges.count - 1)
        var below = 0.0, above = 0.0
        var low = Double.infinity, high = -Double.infinity, count = 0
        for x in values where !x.isNaN {
            low = Swift.min(low, x)
            high = Swift.max(high, x)
            sum += x
            sumSquares += x * x
            count += 1
            if x < edges[0] {
                below += 1
            } else if x >= edges[edges.count - 1] {
                above += 1
            } else {
                inner[Self.bucket(of: x, edges: edges)] += 1
            }
        }
        if count > 0 { min = low; max = high }
        if below > 0 {
            bucketLimits.append(edges[0])
            counts.append(below)
        }
        bucketLimits += edges.dropFirst()
        counts += inner
        if above > 0 {
            bucketLimits.append(.greatestFiniteMagnitude)
            counts.append(above)
        }
    }

    /// The `i` with `edges[i] <= x < edges[i+1]`, by binary search; `x` must lie in
    /// [edges.first, edges.last).
    private static func bucket(of x: Double, edges: [Double]) -> Int {
        var low = 0, high = edges.count - 1   // invariant: edges[low] <= x < edges[high]
        while high - low > 1 {
            let mid = (low + high) / 2
            if edges[mid] <= x { low = mid } else { high = mid }
        }
        return low
    }
}
