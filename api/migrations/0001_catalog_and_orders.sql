-- The catalog and the orders. Money is integer cents; times are UTC.
CREATE TABLE IF NOT EXISTS products (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    sku         VARCHAR(32)     NOT NULL,
    name        VARCHAR(200)    NOT NULL,
    category    VARCHAR(64)     NOT NULL,
    price_cents BIGINT          NOT NULL,
    -- UNSIGNED: a bug that oversells fails the statement instead of going negative.
    stock       INT UNSIGNED    NOT NULL,
    created_at  DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    deleted_at  DATETIME(6)     NULL,
    UNIQUE KEY products_sku (sku),
    KEY products_category (category, id),
    CONSTRAINT products_price_not_negative CHECK (price_cents >= 0)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS orders (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_email  VARCHAR(254)    NOT NULL,
    status          VARCHAR(16)     NOT NULL,
    total_cents     BIGINT          NOT NULL,
    -- The client's Idempotency-Key and a hash of its request: a replay
    -- returns this order, a different request under the same key is refused.
    idempotency_key VARCHAR(128)    NULL,
    request_hash    CHAR(64)        NULL,
    created_at      DATETIME(6)     NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY orders_idempotency_key (idempotency_key),
    KEY orders_created_at (created_at),
    KEY orders_status_created_at (status, created_at)
) ENGINE = InnoDB;

CREATE TABLE IF NOT EXISTS order_items (
    order_id         BIGINT UNSIGNED NOT NULL,
    product_id       BIGINT UNSIGNED NOT NULL,
    quantity         INT UNSIGNED    NOT NULL,
    unit_price_cents BIGINT          NOT NULL,
    PRIMARY KEY (order_id, product_id),
    KEY order_items_product (product_id),
    CONSTRAINT order_items_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT order_items_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE = InnoDB;
