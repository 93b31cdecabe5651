/// One entry of the config file's `keystore:`: a key pair osp issues to a client and whom it
/// belongs to. The same value every client secret source yields.
public typealias KeystoreEntry = ClientIdentity
