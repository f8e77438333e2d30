with field_values as (

    select * from {{ ref('int_field_values') }}

),

final as (

    select
        field,
        count(*) as rows,
        count(*) filter (where is_empty) as empty_count,
        count(*) filter (where is_placeholder) as placeholder_count,
        round(avg(chars), 2) as chars_mean,
        quantile_disc(chars, 0.05) as chars_p05,
        quantile_disc(chars, 0.25) as chars_p25,
        quantile_disc(chars, 0.50) as chars_p50,
        quantile_disc(chars, 0.75) as chars_p75,
        quantile_disc(chars, 0.95) as chars_p95,
        max(chars) as chars_max,
        round(avg(tokens), 2) as tokens_mean,
        quantile_disc(tokens, 0.50) as tokens_p50,
        quantile_disc(tokens, 0.95) as tokens_p95,
        max(tokens) as tokens_max
    from field_values
    group by field

)

select * from final
