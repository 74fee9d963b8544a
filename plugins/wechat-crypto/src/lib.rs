//! WeChat / WeCom message signatures and the WXBizMsgCrypt envelope.
