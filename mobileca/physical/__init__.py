"""The physical CA (实体 CA, a USB key, R1.3): the first purchase needs a reviewed 「CA 办理申请」; paid orders are
dispatched by an operator (courier and tracking number) and the user follows it."""
