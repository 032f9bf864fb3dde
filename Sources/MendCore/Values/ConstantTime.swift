/// Compares secrets in time that depends only on their lengths, so response timing
/// reveals neither a token's prefix nor how much of one matched.
public func constantTimeEquals(_ a: String, _ b: String) -> Bool {
    let x = Array(a.utf8)
    let y = Array(b.utf8)
    var diff = x.count ^ y.count
    for i in 0..<y.count { diff |= Int(y[i] ^ (i < x.count ? x[i] : 0)) }
    return diff == 0
}
