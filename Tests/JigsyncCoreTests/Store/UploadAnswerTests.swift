import Foundation
@testable import JigsyncCore
import Testing

/// An upload's answer read directly when it is a plain object, by `JSONDecoder` otherwise: the
/// two never disagree on a body the direct reader takes.
@Suite("Upload answers")
struct UploadAnswerTests {
    private func decoded(_ body: String) -> UploadAnswer? {
        try? JSONDecoder().decode(UploadAnswer.self, from: Data(body.utf8))
    }

    @Test("plain answers are read directly, exactly as JSONDecoder reads them")
    func plainAnswers() throws {
        let bodies = [
            #"{"key":"in/a.txt","url":"https://api.jigsawstack.com/v1/store/file/read/in/a.txt","size":5000000}"#,
            #" { "success" : true , "key" : "a b/c?d#e.txt" , "size" : 0 , "temp_public_url" : null , "url" : null } "#,
            "{\n\t\"key\": \"k\",\r\n\"size\": -0, \"extra\": false, \"more\": 12}\n",
            #"{}"#,
            #"{"size":999999999999999999}"#,
            #"{"size":null,"key":null}"#,
        ]
        for body in bodies {
            let plain = try #require(UploadAnswer.plain(Data(body.utf8)), "not read directly: \(body)")
            #expect(plain == decoded(body), "\(body)")
        }
        #expect(UploadAnswer.plain(Data(bodies[0].utf8))?.size == 5_000_000)
        #expect(UploadAnswer.plain(Data(bodies[1].utf8))?.key == "a b/c?d#e.txt")
    }

    @Test("escapes, non-ASCII, fractions, exponents, leading zeros, nesting, repeats and junk go to JSONDecoder")
    func leftToJSONDecoder() {
        let bodies = [
            #"{"key":"caf\u00e9.txt","size":1}"#,          // an escape
            #"{"key":"a\/b","size":1}"#,
            "{\"key\":\"café.txt\",\"size\":1}",            // non-ASCII
            #"{"size":1.0}"#, #"{"size":1e3}"#, #"{"size":01}"#, #"{"size":-}"#,
            #"{"size":9999999999999999999}"#,              // past 18 digits
            #"{"key":"a","meta":{"b":1}}"#, #"{"key":"a","list":[1,2]}"#, #"{"extra":1.5}"#,
            #"{"key":"a","key":"b"}"#, #"{"extra":1,"extra":2}"#,
            #"{"key":1}"#, #"{"size":"12"}"#, #"{"url":true}"#,
            #"{"key":"a"} x"#, #"{"key":"a",}"#, #"{"key" "a"}"#, #"["key"]"#, "", "null", #"{"key":"a"#,
            "{\"key\":\"tab\there\"}",                      // a raw control character
        ]
        for body in bodies {
            #expect(UploadAnswer.plain(Data(body.utf8)) == nil, "read directly: \(body)")
        }
    }

    @Test("20,000 mutations of answers: whatever the direct reader takes, JSONDecoder reads the same")
    func mutations() {
        var generator = SystemRandomNumberGenerator()
        let seeds = [
            #"{"key":"in/a.txt","url":"https://x/y","size":5000000,"temp_public_url":null,"ok":true}"#,
            #"{ "size" : 12 , "key" : "k" }"#,
        ].map { Array($0.utf8) }
        let alphabet = Array(#"{}[]":,.-+0123456789eEtrufalsn \"\\/u"#.utf8) + [0x09, 0x0A, 0x00, 0xC3, 0xA9]
        var read = 0
        for _ in 0..<20_000 {
            var bytes = seeds.randomElement(using: &generator)!
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = alphabet.randomElement(using: &generator)!
                case 1: bytes.insert(alphabet.randomElement(using: &generator)!, at: at)
                default: if bytes.count > 1 { bytes.remove(at: at) }
                }
            }
            let body = Data(bytes)
            guard let plain = UploadAnswer.plain(body) else { continue }
            read += 1
            let decoded = try? JSONDecoder().decode(UploadAnswer.self, from: body)
            #expect(plain == decoded, "\(String(decoding: body, as: UTF8.self))")
        }
        #expect(read > 1_000, "only \(read) mutations were read directly: the test no longer tests")
    }
}
