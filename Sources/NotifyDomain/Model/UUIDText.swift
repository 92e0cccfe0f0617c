import Foundation

/// Lower-case UUID strings, as Graph writes ids and request ids.
enum UUIDText {
    static func random() -> String {
        UUID().uuidString.lowercased()
    }
}
