-- The classic lua-resty-websocket echo loop, as its README writes it and as
-- OpenResty users deploy it. Debian packages the library (lua-nginx-websocket)
-- as nginx.websocket.*, OpenResty as resty.websocket.*.
local server = require "nginx.websocket.server"

local _M = {}

function _M.run(max_payload_len)
    local wb, err = server:new{
        timeout = 5000,
        max_payload_len = max_payload_len,
    }
    if not wb then
        ngx.log(ngx.ERR, "failed to new websocket: ", err)
        return ngx.exit(444)
    end

    while true do
        local data, typ, err = wb:recv_frame()
        if not data then
            if not err or not string.find(err, "timeout", 1, true) then
                -- The client went away (the bench ends with resets).
                ngx.log(ngx.INFO, "failed to receive a frame: ", err)
                return ngx.exit(444)
            end
            -- Idle: ping the client.
            local bytes, err = wb:send_ping()
            if not bytes then
                ngx.log(ngx.INFO, "failed to send ping: ", err)
                return ngx.exit(444)
            end
        elseif typ == "close" then
            wb:send_close()
            return
        elseif typ == "ping" then
            local bytes, err = wb:send_pong(data)
            if not bytes then
                return ngx.exit(444)
            end
        elseif typ == "text" then
            local bytes, err = wb:send_text(data)
            if not bytes then
                return ngx.exit(444)
            end
        elseif typ == "binary" then
            local bytes, err = wb:send_binary(data)
            if not bytes then
                return ngx.exit(444)
            end
        end
        -- pong: nothing to do.
    end
end

return _M
