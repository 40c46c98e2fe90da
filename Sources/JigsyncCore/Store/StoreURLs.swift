/// The URLs of the File Storage API for a configuration.
public struct StoreURLs: Sendable {
    public let configuration: StoreConfiguration

    public init(configuration: StoreConfiguration) {
        self.configuration = configuration
    }

    /// `POST` here to upload.
    public var uploadURL: String { configuration.baseURL + "/v1/store/file" }

    /// Where the file under `key` is read (and deleted).
    public func fileURL(key: String) -> String {
        configuration.baseURL + "/v1/store/file/read/" + KeyEncoding.pathComponent(key)
    }

    /// The URL to read `key`; with a public key configured, the public form
    /// (`?x-api-key=PUBLIC_KEY`) that works without the secret.
    public func readURL(key: String) -> String {
        let url = fileURL(key: key)
        guard let publicKey = configuration.publicKey else { return url }
        return url + "?x-api-key=" + KeyEncoding.queryValue(publicKey)
    }
}
