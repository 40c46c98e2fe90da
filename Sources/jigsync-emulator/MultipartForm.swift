import Foundation

/// A `multipart/form-data` upload as the newer JS SDK sends it: a `file` part with the bytes and
/// a `body` part with JSON options.
///
/// The whole request is first spooled to disk (never held in memory); this reads the spool
/// through a memory map and copies the `file` part to its own file.
struct MultipartForm {
    /// Path of the file part's bytes.
    var filePath: String
    /// The `Content-Type` of the file part, if it had one.
    var fileContentType: String?
    /// The `body` part, raw.
    var body: Data?

    /// The boundary parameter of a `multipart/form-data` content type.
    static func boundary(of contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.trimmingCharacters(in: .whitespaces)
            if pair.lowercased().hasPrefix("boundary=") {
                return String(pair.dropFirst("boundary=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }

    /// Splits the spooled request at `spoolPath`, writing the file part to `filePath`.
    static func parse(spoolPath: String, boundary: String, filePath: String) throws -> MultipartForm {
        let data = try Data(contentsOf: URL(fileURLWithPath: spoolPath), options: .alwaysMapped)
        let delimiter = Data("--\(boundary)".utf8)
        let headerEnd = Data("\r\n\r\n".utf8)
        var form = MultipartForm(filePath: filePath)
        var sawFile = false
        guard var cursor = data.range(of: delimiter)?.upperBound else {
            throw EmulatorError("multipart body without its boundary")
        }
        while true {
            // After a delimiter: `--` ends the form, else CRLF and the part's headers.
            if data[cursor...].starts(with: Data("--".utf8)) { break }
            guard let headersRange = data.range(of: headerEnd, in: cursor..<data.endIndex),
                  let next = data.range(of: Data("\r\n".utf8) + delimiter, in: headersRange.upperBound..<data.endIndex) else {
                throw EmulatorError("multipart part is cut off")
            }
            let headers = String(decoding: data[cursor..<headersRange.lowerBound], as: UTF8.self)
            let content = data[headersRange.upperBound..<next.lowerBound]
            let name = field(named: "name", in: headers)
            if name == "file" {
                try Data(content).write(to: URL(fileURLWithPath: filePath))
                form.fileContentType = headerValue("content-type", in: headers)
                sawFile = true
            } else if name == "body" {
                form.body = Data(content)
            }
            cursor = next.upperBound
        }
        guard sawFile else { throw EmulatorError("multipart form has no `file` field") }
        return form
    }

    private static func headerValue(_ name: String, in headers: String) -> String? {
        for line in headers.split(separator: "\r\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == name {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }

    private static func field(named name: String, in headers: String) -> String? {
        guard let disposition = headerValue("content-disposition", in: headers) else { return nil }
        for parameter in disposition.split(separator: ";") {
            let pair = parameter.trimmingCharacters(in: .whitespaces)
            if pair.hasPrefix("\(name)=") {
                return String(pair.dropFirst(name.count + 1)).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            }
        }
        return nil
    }
}
